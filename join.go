package mediabot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/signaling"
)

// JoinRequest is a call for the bot to place, to exactly one destination:
// a meeting by its join link, a meeting by join meeting id and passcode,
// a Teams user, or a phone number. TenantID is the tenant of the meeting
// or user; "" takes the join link's, else the bot's own (Config.TenantID).
type JoinRequest struct {
	JoinURL       string `json:"joinUrl,omitempty"`
	JoinMeetingID string `json:"joinMeetingId,omitempty"`
	Passcode      string `json:"passcode,omitempty"`
	UserID        string `json:"userId,omitempty"`
	Phone         string `json:"phone,omitempty"`
	TenantID      string `json:"tenantId,omitempty"`
}

// destination names the one destination of r, or explains why there is
// not exactly one.
func (r JoinRequest) destination() (string, error) {
	var set []string
	for _, f := range []struct{ name, v string }{
		{"joinUrl", r.JoinURL}, {"joinMeetingId", r.JoinMeetingID}, {"userId", r.UserID}, {"phone", r.Phone},
	} {
		if strings.TrimSpace(f.v) != "" {
			set = append(set, f.name)
		}
	}
	switch len(set) {
	case 0:
		return "", fmt.Errorf("%w: name one destination: joinUrl, joinMeetingId (with passcode), userId or phone", ErrBadJoinRequest)
	case 1:
		return set[0], nil
	}
	return "", fmt.Errorf("%w: one destination per call, got %s", ErrBadJoinRequest, strings.Join(set, " and "))
}

// createCall is the Graph request for r, less its media config, and the
// tenant the call belongs to.
func (r JoinRequest) createCall(cfg Config) (signaling.CreateCallRequest, string, error) {
	req := signaling.CreateCallRequest{
		ODataType: signaling.ODataCall, RequestedModalities: []string{"audio"}, TenantID: strings.TrimSpace(r.TenantID),
		CallOptions: &signaling.CallOptions{ODataType: signaling.ODataOutgoingCallOptions,
			IsContentSharingNotificationEnabled: !cfg.NoSharingNotifications, IsDeltaRosterEnabled: cfg.DeltaRoster},
	}
	dest, err := r.destination()
	if err != nil {
		return req, "", err
	}
	if r.Passcode != "" && dest != "joinMeetingId" {
		return req, "", fmt.Errorf("%w: a passcode goes with joinMeetingId only", ErrBadJoinRequest)
	}
	switch dest {
	case "joinUrl":
		link, err := signaling.ParseJoinURL(r.JoinURL)
		if err != nil {
			return req, "", fmt.Errorf("%w: joinUrl: %w", ErrBadJoinRequest, err)
		}
		link.Apply(&req)
	case "joinMeetingId":
		id := strings.Join(strings.Fields(r.JoinMeetingID), "") // invitations print it in groups of digits
		if strings.Trim(id, "0123456789") != "" {
			return req, "", fmt.Errorf("%w: joinMeetingId %q is not the number an invitation shows", ErrBadJoinRequest, r.JoinMeetingID)
		}
		signaling.MeetingLink{JoinMeetingID: id, Passcode: strings.TrimSpace(r.Passcode)}.Apply(&req)
	case "userId":
		id := strings.TrimSpace(r.UserID)
		if !signaling.IsGUID(id) {
			return req, "", fmt.Errorf("%w: userId %q is not a Teams user's object id (a GUID)", ErrBadJoinRequest, r.UserID)
		}
		req.Targets = []signaling.InvitationParticipantInfo{signaling.UserTarget(id, req.TenantID)}
	case "phone":
		phone := strings.TrimSpace(r.Phone)
		if !isE164(phone) {
			return req, "", fmt.Errorf("%w: phone %q is not an E.164 number (+ then 8 to 15 digits, e.g. +14255550123)", ErrBadJoinRequest, r.Phone)
		}
		if cfg.ApplicationInstanceID == "" {
			return req, "", fmt.Errorf("%w: calling a phone number needs the bot's application instance (--application-instance-id): the resource account that holds its phone number", ErrBadJoinRequest)
		}
		req.Source = signaling.ApplicationInstanceSource(cfg.ApplicationInstanceID, "")
		req.Targets = []signaling.InvitationParticipantInfo{signaling.PhoneTarget(phone)}
	}
	if req.TenantID == "" {
		req.TenantID = cfg.TenantID
	}
	if req.TenantID == "" && req.MeetingInfo != nil {
		return req, "", fmt.Errorf("%w: joining a meeting needs its tenant: tenantId (or the bot's --tenant-id)", ErrBadJoinRequest)
	}
	return req, req.TenantID, nil
}

// isE164 reports whether s is "+" and 8 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return strings.Trim(s[1:], "0123456789") == ""
}

// describe names the request's destination for logs.
func (r JoinRequest) describe() string {
	switch {
	case r.JoinURL != "":
		return "meeting link"
	case r.JoinMeetingID != "":
		return "meeting " + r.JoinMeetingID
	case r.UserID != "":
		return "user " + r.UserID
	}
	return "phone " + r.Phone
}

// Join asks Graph to place the call req names, with this instance's media
// (the same blob as an answer), and returns the call Graph created. From
// then on it is a call like an answered one: states, roster, media,
// content sharing, sinks. A meeting's lobby may hold the bot, for at most
// Config.LobbyTimeout (CallInfo.InLobby, call.lobby events). A malformed
// request fails with ErrBadJoinRequest before any request to Graph;
// Graph's refusal is a *signaling.APIError (errors.Is signaling.ErrGraph)
// carrying Graph's error body.
func (b *Bot) Join(ctx context.Context, req JoinRequest) (CallInfo, error) {
	body, tenant, err := req.createCall(b.cfg)
	if err != nil {
		return CallInfo{}, err
	}
	if err := b.canPlace(); err != nil {
		return CallInfo{}, err
	}
	c, err := b.calls.Place(ctx, tenant, body, req.describe())
	switch {
	case errors.Is(err, call.ErrFull):
		return CallInfo{}, b.errFull()
	case errors.Is(err, call.ErrClosed):
		return CallInfo{}, fmt.Errorf("%w: the bot is shutting down", ErrNotPlacing)
	case errors.Is(err, call.ErrNoReply):
		return CallInfo{}, fmt.Errorf("%w: %w", ErrNoReplyFromGraph, err)
	case errors.Is(err, signaling.ErrToken):
		return CallInfo{}, fmt.Errorf("%w for tenant %s (check the tenant id, the client secret or certificate, and that this host reaches the token endpoint): %w", ErrNoToken, tenant, err)
	case err != nil:
		return CallInfo{}, err
	}
	return infoOf(c), nil
}

// canPlace refuses a new call while draining, full or overloaded.
func (b *Bot) canPlace() error {
	switch {
	case b.draining.Load():
		return fmt.Errorf("%w: the bot is draining", ErrNotPlacing)
	case b.calls.Full():
		return b.errFull()
	}
	if st := b.admission(); st.Level == LoadOverloaded {
		return fmt.Errorf("%w: overloaded: %s", ErrNotPlacing, st.Reason)
	}
	return nil
}

func (b *Bot) errFull() error {
	return fmt.Errorf("%w: %d calls live or being placed, the most this instance holds (--max-calls)", ErrNotPlacing, b.cfg.MaxCalls)
}
