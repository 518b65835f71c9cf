package sharing

import (
	"sync"

	"github.com/mediabot-dev/mediabot/event"
)

// Tracker is one call's content-sharing sessions. Its methods are safe for
// concurrent use; events are emitted with its state lock released (emit may
// call Active, not Created, Deleted or EndCall) and in the order of the
// changes that caused them.
type Tracker struct {
	callID string
	emit   func(event.Event)

	// order is held from a state change until its events are emitted, so
	// that concurrent notifications cannot deliver a session's
	// sharing.ended before its sharing.started.
	order sync.Mutex

	mu       sync.Mutex
	sessions map[string]*session
	active   int
	over     bool
}

type session struct {
	startMs   int64
	presenter string
	open      bool
}

// NewTracker starts tracking the call; emit receives sharing.started and
// sharing.ended events (with CallID, SessionID, MediaTimeMs set).
func NewTracker(callID string, emit func(event.Event)) *Tracker {
	return &Tracker{callID: callID, emit: emit, sessions: map[string]*session{}}
}

// Created records a session's start at mediaMs, presented by presenter (""
// when the roster shows none). A repeated created is a no-op, and so is one
// for a session that already ended or after the call ended.
func (t *Tracker) Created(id string, mediaMs int64, presenter string) {
	t.order.Lock()
	defer t.order.Unlock()
	t.mu.Lock()
	if _, seen := t.sessions[id]; seen || t.over {
		t.mu.Unlock()
		return
	}
	t.sessions[id] = &session{startMs: mediaMs, presenter: presenter, open: true}
	t.active++
	t.mu.Unlock()
	t.emit(event.Event{Type: event.SharingStarted, CallID: t.callID, MediaTimeMs: mediaMs, SessionID: id, ParticipantID: presenter})
}

// Deleted records a session's end at mediaMs. A deleted without a created
// still yields an ended session, marked StartUnknown; a repeated one is a
// no-op.
func (t *Tracker) Deleted(id string, mediaMs int64) {
	t.order.Lock()
	defer t.order.Unlock()
	t.mu.Lock()
	s, seen := t.sessions[id]
	switch {
	case t.over || (seen && !s.open):
		t.mu.Unlock()
		return
	case !seen:
		t.sessions[id] = &session{}
		t.mu.Unlock()
		t.emit(event.Event{Type: event.SharingEnded, CallID: t.callID, MediaTimeMs: mediaMs, SessionID: id, StartUnknown: true})
		return
	}
	e := t.closeLocked(id, s, mediaMs)
	t.mu.Unlock()
	t.emit(e)
}

// EndCall ends every open session at mediaMs: a session ends with its call.
// Later notifications of the call are ignored.
func (t *Tracker) EndCall(mediaMs int64) {
	t.order.Lock()
	defer t.order.Unlock()
	t.mu.Lock()
	t.over = true
	var ended []event.Event
	for id, s := range t.sessions {
		if s.open {
			ended = append(ended, t.closeLocked(id, s, mediaMs))
		}
	}
	t.mu.Unlock()
	for _, e := range ended {
		t.emit(e)
	}
}

// Active is the number of sessions open now.
func (t *Tracker) Active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active
}

func (t *Tracker) closeLocked(id string, s *session, mediaMs int64) event.Event {
	s.open = false
	t.active--
	d := max(mediaMs-s.startMs, 0)
	return event.Event{Type: event.SharingEnded, CallID: t.callID, MediaTimeMs: mediaMs, SessionID: id,
		ParticipantID: s.presenter, DurationMs: &d}
}
