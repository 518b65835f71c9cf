package sharing

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mediabot-dev/mediabot/event"
)

const testCall = "call-1"

// recorder collects a tracker's events; safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) emit(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

func newRecorded() (*Tracker, *recorder) {
	r := &recorder{}
	return NewTracker(testCall, r.emit), r
}

// want is the part of an event a table row checks.
type want struct {
	typ          event.Type
	session      string
	presenter    string
	mediaMs      int64
	startUnknown bool
	durationMs   int64 // -1: no DurationMs
}

func started(id string, ms int64, presenter string) want {
	return want{typ: event.SharingStarted, session: id, presenter: presenter, mediaMs: ms, durationMs: -1}
}

func ended(id string, ms int64, presenter string, d int64) want {
	return want{typ: event.SharingEnded, session: id, presenter: presenter, mediaMs: ms, durationMs: d}
}

func endedUnknown(id string, ms int64) want {
	return want{typ: event.SharingEnded, session: id, mediaMs: ms, startUnknown: true, durationMs: -1}
}

func checkEvent(t *testing.T, i int, got event.Event, w want) {
	t.Helper()
	if got.Type != w.typ || got.CallID != testCall || got.SessionID != w.session ||
		got.ParticipantID != w.presenter || got.MediaTimeMs != w.mediaMs || got.StartUnknown != w.startUnknown {
		t.Errorf("event %d = %+v, want %+v", i, got, w)
	}
	switch {
	case w.durationMs < 0 && got.DurationMs != nil:
		t.Errorf("event %d: DurationMs = %d, want none", i, *got.DurationMs)
	case w.durationMs >= 0 && (got.DurationMs == nil || *got.DurationMs != w.durationMs):
		t.Errorf("event %d: DurationMs = %v, want %d", i, got.DurationMs, w.durationMs)
	}
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name   string
		run    func(tr *Tracker)
		want   []want
		active int
	}{
		{
			name: "created then deleted starts and ends the session",
			run: func(tr *Tracker) {
				tr.Created("s1", 1000, "alice")
				tr.Deleted("s1", 4500)
			},
			want: []want{started("s1", 1000, "alice"), ended("s1", 4500, "alice", 3500)},
		},
		{
			name: "created without a presenter",
			run: func(tr *Tracker) {
				tr.Created("s1", 10, "")
				tr.Deleted("s1", 20)
			},
			want: []want{started("s1", 10, ""), ended("s1", 20, "", 10)},
		},
		{
			name: "duplicate created is a no-op",
			run: func(tr *Tracker) {
				tr.Created("s1", 1000, "alice")
				tr.Created("s1", 2000, "bob")
				tr.Deleted("s1", 3000)
			},
			want: []want{started("s1", 1000, "alice"), ended("s1", 3000, "alice", 2000)},
		},
		{
			name: "duplicate deleted is a no-op",
			run: func(tr *Tracker) {
				tr.Created("s1", 1000, "alice")
				tr.Deleted("s1", 3000)
				tr.Deleted("s1", 5000)
			},
			want: []want{started("s1", 1000, "alice"), ended("s1", 3000, "alice", 2000)},
		},
		{
			name: "deleted without created ends with start unknown",
			run: func(tr *Tracker) {
				tr.Deleted("s1", 3000)
			},
			want: []want{endedUnknown("s1", 3000)},
		},
		{
			name: "created after its deleted is ignored",
			run: func(tr *Tracker) {
				tr.Deleted("s1", 3000)
				tr.Created("s1", 3500, "alice")
				tr.Deleted("s1", 4000)
			},
			want: []want{endedUnknown("s1", 3000)},
		},
		{
			name: "deleted before a start in the past gives a zero duration",
			run: func(tr *Tracker) {
				tr.Created("s1", 5000, "alice")
				tr.Deleted("s1", 4000)
			},
			want: []want{started("s1", 5000, "alice"), ended("s1", 4000, "alice", 0)},
		},
		{
			name: "end call ends every open session at its time",
			run: func(tr *Tracker) {
				tr.Created("s1", 1000, "alice")
				tr.Created("s2", 2000, "bob")
				tr.Created("s3", 2500, "carol")
				tr.Deleted("s3", 2600)
				tr.EndCall(9000)
			},
			want: []want{
				started("s1", 1000, "alice"), started("s2", 2000, "bob"), started("s3", 2500, "carol"),
				ended("s3", 2600, "carol", 100),
				// map order: checked as a set below
				ended("s1", 9000, "alice", 8000), ended("s2", 9000, "bob", 7000),
			},
		},
		{
			name: "nothing after end call",
			run: func(tr *Tracker) {
				tr.Created("s1", 1000, "alice")
				tr.EndCall(2000)
				tr.Created("s2", 3000, "bob")
				tr.Deleted("s1", 3000)
				tr.Deleted("s3", 3000)
				tr.EndCall(4000)
			},
			want: []want{started("s1", 1000, "alice"), ended("s1", 2000, "alice", 1000)},
		},
		{
			name: "active counts open sessions",
			run: func(tr *Tracker) {
				tr.Created("s1", 1, "")
				tr.Created("s2", 2, "")
				tr.Created("s3", 3, "")
				tr.Deleted("s2", 4)
				tr.Deleted("s4", 5)
			},
			want: []want{
				started("s1", 1, ""), started("s2", 2, ""), started("s3", 3, ""),
				ended("s2", 4, "", 2), endedUnknown("s4", 5),
			},
			active: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec := newRecorded()
			tt.run(tr)
			got := rec.all()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if w.mediaMs != g.MediaTimeMs || w.session != g.SessionID {
					// EndCall's order is the map's: find the match.
					for _, e := range got {
						if e.Type == w.typ && e.SessionID == w.session {
							g = e
						}
					}
				}
				checkEvent(t, i, g, w)
			}
			if a := tr.Active(); a != tt.active {
				t.Errorf("Active() = %d, want %d", a, tt.active)
			}
		})
	}
}

// checkInvariants checks what must hold of any call's sharing events.
func checkInvariants(t *testing.T, events []event.Event, ids []string, endMs int64) {
	t.Helper()
	type seen struct {
		started, ended []event.Event
		endIndex       int
	}
	by := map[string]*seen{}
	for _, id := range ids {
		by[id] = &seen{endIndex: -1}
	}
	for i, e := range events {
		if e.CallID != testCall {
			t.Fatalf("event %d: CallID %q", i, e.CallID)
		}
		if e.MediaTimeMs > endMs {
			t.Fatalf("event %d after end call: %+v", i, e)
		}
		s := by[e.SessionID]
		if s == nil {
			t.Fatalf("event %d for unknown session: %+v", i, e)
		}
		switch e.Type {
		case event.SharingStarted:
			if s.endIndex >= 0 {
				t.Fatalf("session %s started after it ended: %+v", e.SessionID, events)
			}
			s.started = append(s.started, e)
		case event.SharingEnded:
			s.ended = append(s.ended, e)
			s.endIndex = i
		default:
			t.Fatalf("event %d: type %s", i, e.Type)
		}
	}
	for id, s := range by {
		if len(s.ended) != 1 {
			t.Fatalf("session %s: %d ended events, want 1", id, len(s.ended))
		}
		if len(s.started) > 1 {
			t.Fatalf("session %s: %d started events, want at most 1", id, len(s.started))
		}
		end := s.ended[0]
		if len(s.started) == 0 {
			if !end.StartUnknown || end.DurationMs != nil {
				t.Fatalf("session %s ended without a start: %+v", id, end)
			}
			continue
		}
		start := s.started[0]
		if end.StartUnknown || end.DurationMs == nil || *end.DurationMs < 0 {
			t.Fatalf("session %s: ended %+v after a start", id, end)
		}
		if start.MediaTimeMs > end.MediaTimeMs {
			t.Fatalf("session %s: started at %d after its end at %d", id, start.MediaTimeMs, end.MediaTimeMs)
		}
		if *end.DurationMs != end.MediaTimeMs-start.MediaTimeMs {
			t.Fatalf("session %s: duration %d, want %d", id, *end.DurationMs, end.MediaTimeMs-start.MediaTimeMs)
		}
		if end.ParticipantID != start.ParticipantID {
			t.Fatalf("session %s: presenter %q at end, %q at start", id, end.ParticipantID, start.ParticipantID)
		}
	}
}

func TestTrackerRandomSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		tr, rec := newRecorded()
		n := 1 + rng.IntN(8)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%d", i)
		}
		var ms int64
		for range rng.IntN(40) {
			ms += int64(rng.IntN(1000))
			id := ids[rng.IntN(n)]
			switch rng.IntN(3) {
			case 0:
				tr.Created(id, ms, "p-"+id)
			case 1:
				tr.Deleted(id, ms)
			case 2: // a notification delivered twice
				if rng.IntN(2) == 0 {
					tr.Created(id, ms, "p-"+id)
					tr.Created(id, ms, "p-"+id)
				} else {
					tr.Deleted(id, ms)
					tr.Deleted(id, ms)
				}
			}
		}
		// Sessions never heard of still need their ended event for the
		// invariant "each id ends once": give them a deleted.
		for _, id := range ids {
			if !hasSession(rec.all(), id) {
				tr.Deleted(id, ms)
			}
		}
		endMs := ms + int64(rng.IntN(1000))
		tr.EndCall(endMs)
		if a := tr.Active(); a != 0 {
			t.Fatalf("iteration %d: Active() = %d after EndCall", iter, a)
		}
		before := len(rec.all())
		tr.Created("late", endMs+1, "x")
		tr.Deleted(ids[0], endMs+2)
		tr.EndCall(endMs + 3)
		events := rec.all()
		if len(events) != before {
			t.Fatalf("iteration %d: events after EndCall: %+v", iter, events[before:])
		}
		checkInvariants(t, events, ids, endMs)
	}
}

func hasSession(events []event.Event, id string) bool {
	for _, e := range events {
		if e.SessionID == id {
			return true
		}
	}
	return false
}

func TestTrackerConcurrent(t *testing.T) {
	const (
		workers  = 8
		sessions = 50
	)
	tr, rec := newRecorded()
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 500 {
				id := ids[rng.IntN(sessions)]
				if rng.IntN(2) == 0 {
					tr.Created(id, int64(i), "p-"+id)
				} else {
					tr.Deleted(id, int64(i)+1)
				}
				_ = tr.Active()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		tr.Deleted(id, 1000) // sessions no worker touched
	}
	tr.EndCall(1000)
	if a := tr.Active(); a != 0 {
		t.Fatalf("Active() = %d after EndCall", a)
	}
	ended := map[string]int{}
	startedAt := map[string]int{}
	for _, e := range rec.all() {
		switch e.Type {
		case event.SharingEnded:
			ended[e.SessionID]++
		case event.SharingStarted:
			if ended[e.SessionID] > 0 {
				t.Errorf("session %s: started delivered after its ended", e.SessionID)
			}
			startedAt[e.SessionID]++
		}
	}
	for _, id := range ids {
		if ended[id] != 1 || startedAt[id] > 1 {
			t.Errorf("session %s: %d ended, %d started events", id, ended[id], startedAt[id])
		}
	}
}
