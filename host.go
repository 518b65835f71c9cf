package mediabot

import (
	"context"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/signaling"
)

// host is the bot as its calls see it (call.Bot).
type host struct{ b *Bot }

// Decide applies the answer policy to an incoming call: a draining bot
// rejects it busy; otherwise the policy decides, knowing the load the call
// would be admitted under.
func (h host) Decide(ctx context.Context, c *call.Call, gc signaling.Call) {
	b := h.b
	if b.draining.Load() {
		c.Reject(ctx, "busy")
		return
	}
	// Judged one at a time: a call admitted holds its place before the
	// next is judged, or a burst judged at once would all be admitted
	// into the same room.
	b.admitting.Lock()
	st := b.admission() // this call, without a media session yet, is the new one
	c.HoldPlace(st.Level != LoadOverloaded)
	b.admitting.Unlock()
	d := b.policy(IncomingCall{Call: gc, TenantID: c.TenantID(), LiveCalls: b.calls.Live() - 1, Load: st})
	if d.Action != Answer {
		c.HoldPlace(false) // no media session of the bot's to come
	}
	switch d.Action {
	case Reject:
		if st.Level == LoadOverloaded {
			b.refusals.Refused(c.ID(), st.Reason)
		}
		c.Reject(ctx, d.Reason)
	case Redirect:
		c.Redirect(ctx, d.Targets)
	case AnswerServiceHosted:
		c.AnswerServiceHosted(ctx, d.PreFetchMedia)
	default:
		c.Answer(ctx)
	}
}

// Publish hands a call's event on (see Bot.publish).
func (h host) Publish(e event.Event, to call.Audience) { h.b.publish(e, to) }

// CallEnded closes the call in the mixer and the sinks once its last event
// was published.
func (h host) CallEnded(callID string) {
	b := h.b
	b.fanout.EndCall(callID)
	for _, s := range b.sinks {
		s.EndCall(callID)
	}
}

// handoff names where an incoming call goes instead of this instance: the
// handoff URL, while this instance is full, overloaded or draining.
func (b *Bot) handoff(batch *signaling.CommsNotifications) string {
	if b.cfg.HandoffURL == "" || !batch.HasIncomingCall() {
		return ""
	}
	full := b.cfg.MaxCalls > 0 && b.calls.Live() >= b.cfg.MaxCalls
	if full || b.draining.Load() || b.admission().Level == LoadOverloaded {
		return b.cfg.HandoffURL
	}
	return ""
}

// joiningResponse answers a policy-recording call's participant joining
// notification in the webhook's response.
func (b *Bot) joiningResponse(batch *signaling.CommsNotifications) any {
	return b.calls.JoiningResponse(batch, !b.draining.Load())
}
