package call

// Limits of the notifications parked for calls being placed: Graph's first
// notifications of a new call can overtake its 201 reply.
const (
	maxEarlyCalls         = 64
	maxEarlyNotifications = 32
)

// earlyNotifications holds, while the bot places calls, the notifications
// of calls it does not know yet, until the call Graph created is known (or
// no placement is in flight any more). Guarded by Table.mu.
type earlyNotifications struct {
	placing int // placements in flight
	byCall  map[string][]work
}

// park keeps w for call id, when a placement is in flight and there is
// room; it reports whether w was kept.
func (e *earlyNotifications) park(id string, w work) bool {
	if e.placing == 0 {
		return false
	}
	if e.byCall == nil {
		e.byCall = map[string][]work{}
	}
	q, known := e.byCall[id]
	if (!known && len(e.byCall) >= maxEarlyCalls) || len(q) >= maxEarlyNotifications {
		return false
	}
	e.byCall[id] = append(q, w)
	return true
}

// begin counts a placement in flight.
func (e *earlyNotifications) begin() { e.placing++ }

// end counts a placement done and returns what was parked for the call it
// created (id "" when it created none). When no placement is in flight any
// more, the rest is dropped: orphans are the calls it was about, which no
// placement claimed, and dropped counts their notifications.
func (e *earlyNotifications) end(id string) (mine []work, orphans []string, dropped int) {
	e.placing--
	mine = e.byCall[id]
	delete(e.byCall, id)
	if e.placing == 0 {
		for other, q := range e.byCall {
			orphans = append(orphans, other)
			dropped += len(q)
		}
		clear(e.byCall)
	}
	return mine, orphans, dropped
}
