package call

import (
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/internal/monotime"
	"github.com/mediabot-dev/mediabot/signaling"
)

// tombstoneTTL is how long an ended call is remembered, so that a late
// notification cannot revive it and operators can read how it ended.
const tombstoneTTL = 10 * time.Minute

// Table is the calls one bot holds: live ones, closing ones (the bot left,
// Graph's last word is awaited), ended ones for a while, and the
// notifications of calls being placed. Its methods are safe for concurrent
// use.
type Table struct {
	deps Deps

	mu      sync.Mutex
	calls   map[string]*Call // live and closing
	ended   map[string]*Call // tombstones, by when they ended
	early   earlyNotifications
	closed  bool // no call is made any more
	workers sync.WaitGroup
}

// NewTable makes the table of a bot's calls.
func NewTable(deps Deps) *Table {
	return &Table{deps: deps, calls: map[string]*Call{}, ended: map[string]*Call{}}
}

// Dispatch routes an authenticated batch of notifications to the calls it
// is about, in order. It only queues: each call has one worker that acts
// on its notifications one by one.
func (t *Table) Dispatch(claims signaling.Claims, batch *signaling.CommsNotifications) {
	arrived := time.Now()
	for i := range batch.Value {
		n := &batch.Value[i]
		target, err := n.Target()
		if err != nil {
			t.deps.Metrics.NotificationsIgnored(1)
			t.deps.Log.Warn("notification ignored", "err", err)
			continue
		}
		if t.joinFlow(n, target) {
			continue
		}
		c, parked := t.callFor(target, n, claims, arrived)
		if parked {
			continue
		}
		if c == nil {
			t.deps.Metrics.NotificationsIgnored(1)
			t.deps.Log.Info("notification for an unknown or ended call ignored", "call", target.CallID, "resource", target.Kind.String(), "changeType", n.ChangeType)
			continue
		}
		c.enqueue(work{n: n, target: target})
	}
}

// callFor finds the call a notification is about, or makes it for an
// incoming-call notification. Ended calls stay ended. While the bot places
// calls, a notification for a call not yet known is parked for the call
// Graph may be creating (parked is then true).
func (t *Table) callFor(target signaling.Resource, n *signaling.CommsNotification, claims signaling.Claims, arrived time.Time) (c *Call, parked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.calls[target.CallID]; c != nil {
		return c, false
	}
	if _, gone := t.ended[target.CallID]; gone || t.closed {
		return nil, false
	}
	if target.Kind != signaling.ResourceCall || n.ChangeType != "created" {
		return nil, t.early.park(target.CallID, work{n: n, target: target})
	}
	// The call's tenant: the one the call names, else the token's. It is
	// fixed here, before the call's goroutines read it.
	tenant, policy := claims.TenantID, false
	if calls, err := n.Calls(); err == nil && len(calls) > 0 {
		if calls[0].TenantID != "" {
			tenant = calls[0].TenantID
		}
		policy = IsPolicyRecording(calls[0])
	}
	c = newCall(t, target.CallID, tenant, arrived, policy)
	t.startLocked(c)
	return c, false
}

// startLocked makes c known and starts its worker; t.mu is held.
func (t *Table) startLocked(c *Call) {
	t.calls[c.id] = c
	t.workers.Add(1)
	go c.run()
}

// forget moves an ended call to the tombstones, and lets go of those older
// than tombstoneTTL.
func (t *Table) forget(c *Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.calls, c.id)
	t.ended[c.id] = c
	now := monotime.Now()
	for id, old := range t.ended {
		if now-old.endedAt.Load() > int64(tombstoneTTL) {
			delete(t.ended, id)
		}
	}
}

// Get is the call with this id: live, closing, or ended in the last ten
// minutes; nil if none.
func (t *Table) Get(id string) *Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.calls[id]; c != nil {
		return c
	}
	return t.ended[id]
}

// Held is the calls not ended yet: live and closing.
func (t *Table) Held() []*Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*Call, 0, len(t.calls))
	for _, c := range t.calls {
		out = append(out, c)
	}
	return out
}

// Live is the number of live calls: held and not closing.
func (t *Table) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.liveLocked()
}

func (t *Table) liveLocked() int {
	n := 0
	for _, c := range t.calls {
		if c.phase.Load() == live {
			n++
		}
	}
	return n
}

// Connecting counts the calls whose media brought no packet yet
// (placements waiting for Graph's reply included) and the live calls whose
// media did.
func (t *Table) Connecting() (connecting, withMedia int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	connecting = t.early.placing
	for _, c := range t.calls {
		switch {
		case c.connecting():
			connecting++
		case c.packets.Load() != 0 && c.phase.Load() == live:
			withMedia++
		}
	}
	return connecting, withMedia
}

// Full reports whether the live calls and those being placed reach
// Settings.MaxCalls.
func (t *Table) Full() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fullLocked()
}

func (t *Table) fullLocked() bool {
	max := t.deps.Settings.MaxCalls
	return max > 0 && t.liveLocked()+t.early.placing >= max
}

// Close stops making calls, hangs up those still held with reason why, and
// returns once every call has ended (each waits ClosingBound at most for
// Graph's word).
func (t *Table) Close(why string) {
	t.mu.Lock()
	t.closed = true
	for _, c := range t.calls {
		c.Hangup(why)
	}
	t.mu.Unlock()
	t.workers.Wait()
}

// KeepAlive asks Graph to keep every live call alive.
func (t *Table) KeepAlive() {
	for _, c := range t.Held() {
		if c.phase.Load() == live {
			c.KeepAlive()
		}
	}
}
