package mediabot

import (
	"context"
	"fmt"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/signaling"
)

// CallInfo describes a call.
type CallInfo struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	State    string `json:"state"`
	// Direction is "incoming" (answered) or "outgoing" (placed by Join).
	Direction string `json:"direction"`
	// InLobby: a meeting's lobby holds the bot, waiting to be admitted.
	InLobby bool `json:"inLobby,omitempty"`
	// MediaStart is when the call's media connected (zero before): the
	// origin of its media clock.
	MediaStart time.Time `json:"mediaStart,omitzero"`
	// Closing: the bot has left the call and waits, ten seconds at most,
	// for Graph to confirm its end.
	Closing bool `json:"closing,omitempty"`
	// Ended: the call is over for this instance (ResultInfo says how, when
	// Graph said).
	Ended bool `json:"ended,omitempty"`
	// ResultInfo is how Graph said the call ended, once it has.
	ResultInfo *event.ResultInfo `json:"resultInfo,omitempty"`
	// EndReason is why the bot ended the call itself (lobby timeout, media
	// failure, hang-up by the operator, shutdown), if it did.
	EndReason string `json:"endReason,omitempty"`
}

func infoOf(c *call.Call) CallInfo {
	return CallInfo{ID: c.ID(), TenantID: c.TenantID(), State: c.State(), Direction: c.Direction(),
		InLobby: c.InLobby(), MediaStart: c.MediaStart(), Closing: c.Closing(), Ended: c.Ended(),
		ResultInfo: c.Result(), EndReason: c.EndReason()}
}

// Calls describes the calls this instance holds: live ones, and those it
// is leaving (Closing).
func (b *Bot) Calls() []CallInfo {
	held := b.calls.Held()
	out := make([]CallInfo, len(held))
	for i, c := range held {
		out[i] = infoOf(c)
	}
	return out
}

// Call describes a call held, or one that ended in the last ten minutes.
func (b *Bot) Call(callID string) (CallInfo, bool) {
	c := b.calls.Get(callID)
	if c == nil {
		return CallInfo{}, false
	}
	return infoOf(c), true
}

// live is the call with this id if it is live, else ErrUnknownCall.
func (b *Bot) live(callID string) (*call.Call, error) {
	c := b.calls.Get(callID)
	if c == nil || c.Ended() || c.Closing() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCall, callID)
	}
	return c, nil
}

// Hangup leaves a live call: Graph is asked to drop the bot's leg, the
// call's media ends at once, and its last event (call.state terminated)
// follows Graph's confirmation. It returns without waiting.
func (b *Bot) Hangup(_ context.Context, callID string) error {
	c, err := b.live(callID)
	if err != nil {
		return err
	}
	c.Hangup("hung up by the operator")
	return nil
}

// Invite asks Graph to bring participants (Teams users, phone numbers:
// signaling.UserTarget, signaling.PhoneTarget) into a live call, and
// returns the operation once Graph reports it final (or ctx ends).
func (b *Bot) Invite(ctx context.Context, callID string, targets ...signaling.InvitationParticipantInfo) (*signaling.CommsOperation, error) {
	c, err := b.live(callID)
	if err != nil {
		return nil, err
	}
	op, err := b.graph.InviteParticipants(ctx, c.TenantID(), callID, signaling.InviteParticipantsRequest{Participants: targets, ClientContext: callID})
	if err != nil {
		return nil, err
	}
	return c.Operation(ctx, op)
}

// Transfer asks Graph to transfer a live call to target; Graph then ends
// the call for this bot.
func (b *Bot) Transfer(ctx context.Context, callID string, target signaling.InvitationParticipantInfo) (*signaling.CommsOperation, error) {
	c, err := b.live(callID)
	if err != nil {
		return nil, err
	}
	op, err := b.graph.Transfer(ctx, c.TenantID(), callID, signaling.TransferRequest{TransferTarget: target})
	if err != nil {
		return nil, err
	}
	return c.Operation(ctx, op)
}
