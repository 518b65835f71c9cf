package mediabot

import (
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

// dispatch routes an authenticated batch to the calls it is about, in order.
// It runs before the webhook answers 202, so it only queues: each call has
// one worker that acts on its notifications one by one.
func (b *Bot) dispatch(claims signaling.Claims, batch *signaling.CommsNotifications) {
	arrived := time.Now()
	for i := range batch.Value {
		n := &batch.Value[i]
		target, err := n.Target()
		if err != nil {
			b.metrics.notificationsIgnored.Inc()
			b.log.Warn("notification ignored", "err", err)
			continue
		}
		if b.joinFlow(n, target) {
			continue
		}
		c, parked := b.callFor(target, n, claims, arrived)
		if parked {
			continue
		}
		if c == nil {
			b.metrics.notificationsIgnored.Inc()
			b.log.Info("notification for an unknown or ended call ignored", "call", target.CallID, "resource", target.Kind.String(), "changeType", n.ChangeType)
			continue
		}
		c.enqueue(work{n: n, target: target})
	}
}

// handoff names where an incoming call goes instead of this instance: the
// handoff URL, while this instance is full, overloaded or draining.
func (b *Bot) handoff(batch *signaling.CommsNotifications) string {
	if b.cfg.HandoffURL == "" || !hasIncomingCall(batch) {
		return ""
	}
	full := b.cfg.MaxCalls > 0 && b.liveCount() >= b.cfg.MaxCalls
	if full || b.draining.Load() || b.admission().Level == LoadOverloaded {
		return b.cfg.HandoffURL
	}
	return ""
}

func hasIncomingCall(batch *signaling.CommsNotifications) bool {
	for i := range batch.Value {
		n := &batch.Value[i]
		if n.ChangeType != "created" {
			continue
		}
		if t, err := n.Target(); err == nil && t.Kind == signaling.ResourceCall {
			return true
		}
	}
	return false
}

// callFor finds the live call a notification is about, or creates it for an
// incoming-call notification. Ended calls stay ended. While the bot places
// calls, a notification for a call not yet known is parked for the call
// Graph may be creating (parked is then true).
func (b *Bot) callFor(target signaling.Resource, n *signaling.CommsNotification, claims signaling.Claims, arrived time.Time) (c *call, parked bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.calls[target.CallID]; c != nil {
		return c, false
	}
	if _, gone := b.ended[target.CallID]; gone || b.closed.Load() {
		return nil, false
	}
	if target.Kind != signaling.ResourceCall || n.ChangeType != "created" {
		return nil, b.early.park(target.CallID, work{n: n, target: target})
	}
	// The call's tenant: the one the call names, else the token's. It is
	// fixed here, before the call's goroutines read it.
	tenant, policy := claims.TenantID, false
	if calls, err := n.Calls(); err == nil && len(calls) > 0 {
		if calls[0].TenantID != "" {
			tenant = calls[0].TenantID
		}
		policy = isPolicyRecording(calls[0])
	}
	c = newCall(b, target.CallID, tenant, arrived, policy)
	b.startCall(c)
	return c, false
}

// startCall makes c live and starts its worker; b.mu is held.
func (b *Bot) startCall(c *call) {
	b.calls[c.id] = c
	b.workers.Add(1)
	go c.work()
}

// forget removes an ended call and remembers it for a while: its id, so
// that no late notification revives it, and how it ended, for operators.
func (b *Bot) forget(c *call) {
	info := c.info()
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.calls, c.id)
	now := time.Now()
	b.ended[c.id] = endedCall{at: now, info: info}
	for old, e := range b.ended {
		if now.Sub(e.at) > tombstoneTTL {
			delete(b.ended, old)
		}
	}
}

// endedCall is the tombstone of an ended call.
type endedCall struct {
	at   time.Time
	info CallInfo
}

// liveCount is the number of calls held (for the policy).
func (b *Bot) liveCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}
