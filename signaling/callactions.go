package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// Recording statuses a bot reports with UpdateRecordingStatus. A
// policy-recording bot must not persist media before Graph has answered
// RecordingStatusRecording with success.
const (
	RecordingStatusNotRecording = "notRecording"
	RecordingStatusRecording    = "recording"
	RecordingStatusFailed       = "failed"
)

// Limits Graph documents for the call actions; the client refuses requests
// beyond them before sending.
const (
	maxRedirectTargets  = 25
	minRedirectTimeout  = 15
	maxRedirectTimeout  = 90
	maxClientContext    = 256
	maxParticipantPages = 10
)

// UserTarget is a Teams user as a call target (redirect, transfer, invite).
// tenantID may be "" for a user of the bot's own tenant.
func UserTarget(userID, tenantID string) InvitationParticipantInfo {
	return InvitationParticipantInfo{ODataType: ODataInvitationParticipantInfo,
		Identity: &IdentitySet{ODataType: ODataIdentitySet,
			User: &Identity{ODataType: ODataIdentity, ID: userID, TenantID: tenantID}}}
}

// PhoneTarget is a PSTN number as a call target; e164 is the number with
// its leading "+", e.g. "+14255550123". Dialling out needs a phone number
// (resource account) assigned to the bot.
func PhoneTarget(e164 string) InvitationParticipantInfo {
	return InvitationParticipantInfo{ODataType: ODataInvitationParticipantInfo,
		Identity: &IdentitySet{ODataType: ODataIdentitySet,
			Phone: &Identity{ODataType: ODataIdentity, ID: e164}}}
}

func callPath(callID string) string { return "/communications/calls/" + url.PathEscape(callID) }

// Redirect POSTs /communications/calls/{id}/redirect: instead of answering
// an incoming call, the bot sends it to req.Targets (all ring at once).
// Graph answers 202 and then ends the call for the bot with a deleted
// notification. Like answer, it must happen inside the answer window.
func (c *Client) Redirect(ctx context.Context, tenant, callID string, req RedirectRequest) error {
	if err := checkRedirect(req); err != nil {
		return fmt.Errorf("redirect call %s: %w", callID, err)
	}
	return c.do(ctx, tenant, http.MethodPost, callPath(callID)+"/redirect", req, nil)
}

func checkRedirect(req RedirectRequest) error {
	switch {
	case len(req.Targets) == 0:
		return fmt.Errorf("%w: no targets", ErrInvalidRequest)
	case len(req.Targets) > maxRedirectTargets:
		return fmt.Errorf("%w: %d targets, at most %d", ErrInvalidRequest, len(req.Targets), maxRedirectTargets)
	case req.Timeout != 0 && (req.Timeout < minRedirectTimeout || req.Timeout > maxRedirectTimeout):
		return fmt.Errorf("%w: timeout %d s is outside %d..%d", ErrInvalidRequest, req.Timeout, minRedirectTimeout, maxRedirectTimeout)
	}
	for i, t := range req.Targets {
		if t.Identity == nil {
			return fmt.Errorf("%w: target %d has no identity", ErrInvalidRequest, i)
		}
	}
	return nil
}

// Transfer POSTs /communications/calls/{id}/transfer, handing the call (or
// req.Transferee in a group call) to req.TransferTarget. Graph answers 202,
// usually with no body: the operation is then nil, or carries only the id
// from the Location header; the outcome arrives as notifications.
func (c *Client) Transfer(ctx context.Context, tenant, callID string, req TransferRequest) (*CommsOperation, error) {
	if req.TransferTarget.Identity == nil {
		return nil, fmt.Errorf("transfer call %s: %w: transferTarget has no identity", callID, ErrInvalidRequest)
	}
	return c.operation(ctx, tenant, callPath(callID)+"/transfer", req)
}

// InviteParticipants POSTs /communications/calls/{id}/participants/invite.
// Graph answers 200 with an inviteParticipantsOperation, normally running;
// its end arrives as an operation notification carrying req.ClientContext.
func (c *Client) InviteParticipants(ctx context.Context, tenant, callID string, req InviteParticipantsRequest) (*CommsOperation, error) {
	if len(req.Participants) == 0 {
		return nil, fmt.Errorf("invite into call %s: %w: no participants", callID, ErrInvalidRequest)
	}
	for i, p := range req.Participants {
		if p.Identity == nil {
			return nil, fmt.Errorf("invite into call %s: %w: participant %d has no identity", callID, ErrInvalidRequest, i)
		}
	}
	return c.operation(ctx, tenant, callPath(callID)+"/participants/invite", req)
}

// UpdateRecordingStatus POSTs /communications/calls/{id}/updateRecordingStatus
// with status notRecording, recording or failed (RecordingStatus*) and a
// clientContext of at most 256 characters; anything else is refused with
// ErrInvalidRequest before sending. Graph answers 200 with an
// updateRecordingStatusOperation; only a success for "recording" allows
// the bot to persist media.
func (c *Client) UpdateRecordingStatus(ctx context.Context, tenant, callID, status, clientContext string) (*CommsOperation, error) {
	switch status {
	case RecordingStatusNotRecording, RecordingStatusRecording, RecordingStatusFailed:
	default:
		return nil, fmt.Errorf("update recording status of call %s: %w: status %q is not notRecording, recording or failed", callID, ErrInvalidRequest, status)
	}
	if n := utf8.RuneCountInString(clientContext); n > maxClientContext {
		return nil, fmt.Errorf("update recording status of call %s: %w: clientContext has %d characters, at most %d", callID, ErrInvalidRequest, n, maxClientContext)
	}
	return c.operation(ctx, tenant, callPath(callID)+"/updateRecordingStatus",
		UpdateRecordingStatusRequest{ClientContext: clientContext, Status: status})
}

// operation POSTs body to path and reads the commsOperation Graph answers
// with. An empty body gives nil, or an operation holding only the id named
// by the Location header.
func (c *Client) operation(ctx context.Context, tenant, p string, body any) (*CommsOperation, error) {
	rep, err := c.call(ctx, tenant, http.MethodPost, p, body)
	if err != nil {
		return nil, err
	}
	var op CommsOperation
	if len(strings.TrimSpace(string(rep.body))) > 0 {
		if err := json.Unmarshal(rep.body, &op); err != nil {
			return nil, fmt.Errorf("POST %s: %w: %w", p, ErrBadReply, err)
		}
	}
	if op.ID == "" {
		if loc := rep.header.Get("Location"); strings.Contains(loc, "/operations/") {
			op.ID = path.Base(loc)
		}
	}
	if op == (CommsOperation{}) {
		return nil, nil
	}
	return &op, nil
}

// ListParticipants GETs /communications/calls/{id}/participants, following
// @odata.nextLink for up to 10 pages, to rebuild a roster the bot lost
// track of. A nextLink to another host than Graph's is not followed (the
// bearer token would go with it) and fails with ErrBadReply, as does a
// roster longer than 10 pages; the participants read so far are returned
// with that error.
func (c *Client) ListParticipants(ctx context.Context, tenant, callID string) ([]Participant, error) {
	base, _ := url.Parse(c.cfg.GraphURL) // checked by NewClient
	p := callPath(callID) + "/participants"
	r := graphRequest{method: http.MethodGet, url: c.cfg.GraphURL + p, path: p}
	var all []Participant
	for range maxParticipantPages {
		rep, err := c.send(ctx, tenant, r)
		if err != nil {
			return all, err
		}
		var page ParticipantsPage
		if err := json.Unmarshal(rep.body, &page); err != nil {
			return all, fmt.Errorf("GET %s: %w: %w", r.path, ErrBadReply, err)
		}
		all = append(all, page.Value...)
		if page.NextLink == "" {
			return all, nil
		}
		next, err := url.Parse(page.NextLink)
		if err != nil || next.Scheme != base.Scheme || next.Host != base.Host {
			return all, fmt.Errorf("GET %s: %w: nextLink %q is not on %s", r.path, ErrBadReply, page.NextLink, base.Host)
		}
		r.url, r.path = next.String(), strings.TrimPrefix(next.RequestURI(), base.Path)
	}
	return all, fmt.Errorf("GET %s: %w: more than %d pages of participants", p, ErrBadReply, maxParticipantPages)
}
