package load

import (
	"log/slog"
	"sync"
	"time"
)

// refusalEvery is how often a surge of refused calls is logged.
const refusalEvery = time.Second

// Refusals logs the calls refused for load at most once a second: the first
// at once, with its call and reason; those refused in the second after it
// as one line with their count and the latest reason, and so on while the
// refusals go on. In a surge of redials the bot refuses hundreds of calls a
// second, and a line each buried the log (and cost the bot CPU it lacked).
type Refusals struct {
	log     *slog.Logger
	mu      sync.Mutex
	pending int
	reason  string
	timer   *time.Timer // running while a second of refusals is counted
}

// NewRefusals logs to log.
func NewRefusals(log *slog.Logger) *Refusals { return &Refusals{log: log} }

// Refused notes a call refused for reason.
func (r *Refusals) Refused(callID, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.log.Warn("incoming call refused: overloaded", "call", callID, "reason", reason)
		r.timer = time.AfterFunc(refusalEvery, r.flush)
		return
	}
	r.pending++
	r.reason = reason
}

func (r *Refusals) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == 0 {
		r.timer = nil
		return
	}
	r.logPending()
	r.timer.Reset(refusalEvery)
}

func (r *Refusals) logPending() {
	r.log.Warn("incoming calls refused: overloaded", "calls", r.pending, "in", refusalEvery, "reason", r.reason)
	r.pending = 0
}

// Close logs the refusals not logged yet.
func (r *Refusals) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.pending > 0 {
		r.logPending()
	}
}
