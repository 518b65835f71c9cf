package sink

import (
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/event"
)

// defaultRetentionEvery is how often StartRetention looks for old calls when
// its caller does not say.
const defaultRetentionEvery = time.Hour

// retention is a FileSink's retention loop: the zero value is "not running".
type retention struct {
	mu   sync.Mutex
	quit chan struct{} // closed to stop the loop; nil when none runs
	done chan struct{} // closed when the loop has returned
}

// StartRetention deletes, on a goroutine of its own, the call folders whose
// newest file is older than maxAge (see RemoveOlderThan): once right away,
// then every `every` (an hour when zero). Close stops it; a second call
// replaces the running loop, and a call after Close does nothing.
//
// A failing pass is logged; the first of a run of failures is also reported
// as a sink.error event without a call id (it does not count in Errors,
// which counts calls). maxAge must be positive:
// anything else panics, since it would delete every ended call.
func (s *FileSink) StartRetention(maxAge, every time.Duration) {
	if maxAge <= 0 {
		panic("sink: StartRetention: maxAge must be positive, got " + maxAge.String())
	}
	if every <= 0 {
		every = defaultRetentionEvery
	}
	s.retention.stop()
	s.mu.RLock()
	defer s.mu.RUnlock() // so Close, which sets closed under s.mu, sees the loop
	if s.closed {
		return
	}
	quit, done := make(chan struct{}), make(chan struct{})
	s.retention.mu.Lock()
	s.retention.quit, s.retention.done = quit, done
	s.retention.mu.Unlock()
	go s.retain(maxAge, every, quit, done)
}

// retain is the retention loop.
func (s *FileSink) retain(maxAge, every time.Duration, quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := false
	for {
		removed, err := s.RemoveOlderThan(maxAge)
		switch {
		case err != nil:
			s.log.Error("file sink: retention failed", "dir", s.dir, "removed", removed, "err", err)
			if !failing {
				s.Report(event.Event{Time: now(), Type: event.SinkError, Sink: "file", Error: err.Error()})
			}
			failing = true
		case removed > 0:
			s.log.Info("file sink: retention removed old calls", "dir", s.dir, "removed", removed, "maxAge", maxAge)
			failing = false
		default:
			failing = false
		}
		select {
		case <-quit:
			return
		case <-tick.C:
		}
	}
}

// stop ends the loop, if one runs, and waits until it has returned.
func (r *retention) stop() {
	r.mu.Lock()
	quit, done := r.quit, r.done
	r.quit, r.done = nil, nil
	r.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
}
