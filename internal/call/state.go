package call

import (
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// stateRank orders Graph's call states: a notification may come late or
// twice, and a call's state never goes backwards. States of equal rank 2
// (established, hold, transferring, ...) may follow each other freely.
var stateRank = map[string]int{
	"incoming":         0,
	"establishing":     1,
	"established":      2,
	"hold":             2,
	"transferring":     2,
	"transferAccepted": 2,
	"redirecting":      2,
	"terminating":      3,
	"terminated":       4,
}

// advances reports whether moving from cur to next is a real change.
func advances(cur, next string) bool {
	rc, okc := stateRank[cur]
	rn, okn := stateRank[next]
	if !okn || next == cur {
		return false
	}
	if !okc {
		return true
	}
	return rn > rc || (rn == 2 && rc == 2)
}

// setState moves the call to a later state; a stale or repeated one is not
// an event. Graph's resultInfo is kept for the call's last event, and
// "terminated" ends the call: its event is the call's last.
func (c *Call) setState(state string, ri *signaling.ResultInfo) {
	if ri != nil {
		c.result.Store(&event.ResultInfo{Code: int(ri.Code), Subcode: int(ri.Subcode), Message: ri.Message})
		c.log.Info("Graph's result", "state", state, "code", ri.Code, "subcode", ri.Subcode, "message", ri.Message)
	}
	if state == "terminated" {
		c.finish()
		return
	}
	if state == "" || !advances(c.State(), state) {
		return
	}
	c.state.Store(&state)
	c.log.Info("call state", "state", state)
	c.emit(event.Event{Type: event.CallState, State: state})
}
