package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// CreateCallRequest is the body of POST /communications/calls: a call the
// bot places. It names exactly one destination: a meeting (MeetingInfo,
// with ChatInfo for a meeting found by its join link) or Targets (a Teams
// user, or a phone number, which also needs Source to be the bot's
// application instance).
type CreateCallRequest struct {
	ODataType           string                      `json:"@odata.type"`
	CallbackURI         string                      `json:"callbackUri"`
	Source              *ParticipantInfo            `json:"source,omitempty"`
	Targets             []InvitationParticipantInfo `json:"targets,omitempty"`
	RequestedModalities []string                    `json:"requestedModalities"`
	CallOptions         *CallOptions                `json:"callOptions,omitempty"`
	MediaConfig         MediaConfig                 `json:"mediaConfig"`
	ChatInfo            *ChatInfo                   `json:"chatInfo,omitempty"`
	// MeetingInfo is an OrganizerMeetingInfo or a JoinMeetingIDMeetingInfo,
	// encoded (see MeetingInfoJSON).
	MeetingInfo json.RawMessage `json:"meetingInfo,omitempty"`
	TenantID    string          `json:"tenantId,omitempty"`
}

// OrganizerMeetingInfo finds a scheduled meeting by its organizer; it goes
// with the meeting's ChatInfo, both read from the join link.
type OrganizerMeetingInfo struct {
	ODataType                    string       `json:"@odata.type"`
	Organizer                    *IdentitySet `json:"organizer"`
	AllowConversationWithoutHost bool         `json:"allowConversationWithoutHost,omitempty"`
}

// JoinMeetingIDMeetingInfo finds a meeting by the numeric id and passcode
// shown in its invitation.
type JoinMeetingIDMeetingInfo struct {
	ODataType     string `json:"@odata.type"`
	JoinMeetingID string `json:"joinMeetingId"`
	Passcode      string `json:"passcode,omitempty"`
}

// MeetingInfoJSON encodes a meeting info for CreateCallRequest.MeetingInfo.
func MeetingInfoJSON(info any) json.RawMessage {
	raw, err := json.Marshal(info)
	if err != nil {
		panic(fmt.Sprintf("signaling: meeting info %T: %v", info, err)) // plain structs always encode
	}
	return raw
}

// MeetingInfoType is the @odata.type of an encoded meeting info ("" if it
// has none or is not an object).
func MeetingInfoType(raw json.RawMessage) string {
	var t struct {
		ODataType string `json:"@odata.type"`
	}
	_ = json.Unmarshal(raw, &t)
	return t.ODataType
}

// CreateCall POSTs /communications/calls and returns the call Graph
// created (201): its id, its state (establishing) and myParticipantId.
// A request Graph would refuse anyway fails with ErrInvalidRequest before
// sending. Creating a call is not idempotent, so only throttling (429,
// which Graph answers before acting) is retried; a 5xx or a lost reply is
// returned as is, and the caller must not assume no call exists.
func (c *Client) CreateCall(ctx context.Context, tenant string, req CreateCallRequest) (*Call, error) {
	const p = "/communications/calls"
	if req.ODataType == "" {
		req.ODataType = ODataCall // every documented request names it
	}
	if err := checkCreateCall(req); err != nil {
		return nil, fmt.Errorf("create call: %w", err)
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", p, err)
	}
	rep, err := c.send(ctx, tenant, graphRequest{method: http.MethodPost, url: c.cfg.GraphURL + p, path: p, body: raw, notIdempotent: true})
	if err != nil {
		return nil, err
	}
	var call Call
	if err := json.Unmarshal(rep.body, &call); err != nil {
		return nil, fmt.Errorf("POST %s: %w: %w", p, ErrBadReply, err)
	}
	if call.ID == "" {
		return nil, fmt.Errorf("POST %s: %w: the created call has no id", p, ErrBadReply)
	}
	return &call, nil
}

// checkCreateCall enforces what Graph requires of a call the bot places.
func checkCreateCall(req CreateCallRequest) error {
	switch {
	case req.CallbackURI == "":
		return fmt.Errorf("%w: no callbackUri", ErrInvalidRequest)
	case len(req.RequestedModalities) == 0:
		return fmt.Errorf("%w: no requestedModalities", ErrInvalidRequest)
	case req.MediaConfig.ODataType == "":
		return fmt.Errorf("%w: mediaConfig has no @odata.type", ErrInvalidRequest)
	case req.MediaConfig.ODataType == ODataAppHostedMediaConfig && req.MediaConfig.Blob == "":
		return fmt.Errorf("%w: appHostedMediaConfig without a blob", ErrInvalidRequest)
	case len(req.MeetingInfo) > 0 && len(req.Targets) > 0:
		return fmt.Errorf("%w: both a meeting and targets: a call goes to one or the other", ErrInvalidRequest)
	case len(req.MeetingInfo) == 0 && len(req.Targets) == 0:
		return fmt.Errorf("%w: neither a meeting nor targets", ErrInvalidRequest)
	}
	switch t := MeetingInfoType(req.MeetingInfo); {
	case len(req.MeetingInfo) == 0:
	case t == ODataOrganizerMeetingInfo && (req.ChatInfo == nil || req.ChatInfo.ThreadID == ""):
		return fmt.Errorf("%w: organizerMeetingInfo needs the meeting's chatInfo threadId", ErrInvalidRequest)
	case t != ODataOrganizerMeetingInfo && t != ODataJoinMeetingIDMeetingInfo:
		return fmt.Errorf("%w: meetingInfo type %q is neither organizerMeetingInfo nor joinMeetingIdMeetingInfo", ErrInvalidRequest, t)
	}
	for i, t := range req.Targets {
		if t.Identity == nil {
			return fmt.Errorf("%w: target %d has no identity", ErrInvalidRequest, i)
		}
		if t.Identity.Phone != nil && (req.Source == nil || req.Source.Identity == nil || req.Source.Identity.ApplicationInstance == nil) {
			return fmt.Errorf("%w: calling a phone number needs the bot's application instance as source", ErrInvalidRequest)
		}
		if t.Identity.Phone != nil && !strings.HasPrefix(t.Identity.Phone.ID, "+") {
			return fmt.Errorf("%w: phone target %q is not in E.164 form (+ and digits)", ErrInvalidRequest, t.Identity.Phone.ID)
		}
	}
	return nil
}

// ApplicationInstanceSource is the bot's application instance (its
// resource account, the one with a phone number) as the source of a call:
// Graph requires it to call a phone number.
func ApplicationInstanceSource(instanceID, displayName string) *ParticipantInfo {
	return &ParticipantInfo{ODataType: ODataParticipantInfo, Identity: &IdentitySet{ODataType: ODataIdentitySet,
		ApplicationInstance: &Identity{ODataType: ODataIdentity, ID: instanceID, DisplayName: displayName}}}
}
