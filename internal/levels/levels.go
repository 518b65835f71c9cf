// Package levels follows how loud each participant of each call is, for
// the status page's level meters. (Who is speaking is the speech
// detector's: internal/speech.)
package levels

import (
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/internal/speech"
)

const (
	// levelHold is how long a frame's level stands for the participant's
	// level; after it (DTX, a muted microphone, a stalled stream) the level
	// reads as silence.
	levelHold = 500 * time.Millisecond
	// SilenceDBFS is the level of digital silence and of no audio at all:
	// the dBFS of one LSB is about -90, and JSON has no -Inf.
	SilenceDBFS = -100.0
	// levelEvery is how often a participant's level is measured: five
	// times a second is more than a page refreshed each second shows, and
	// a fifth of the work of measuring every frame.
	levelEvery = 200 * time.Millisecond
)

// RingFrames is the level meter's ring per stream: 16 of the frames it
// keeps, 1.6 s. The meter is quick, and a level it misses under load is of
// no consequence.
const RingFrames = 16

// FrameEvery is the meter's share of a stream's frames: one in five,
// every 100 ms, twice as often as it measures (levelEvery) and well inside
// levelHold, after which a participant it hears nothing of reads as silent.
// The other frames are never copied for it.
const FrameEvery = 5

// Meter follows how loud each participant of each call is. It is a
// FrameConsumer on a drainer goroutine of its own, off the packet path, fed
// decoded frames or, for streams nobody decodes, packet frames (whose
// sender's RFC 6464 level it reads); readers (status requests) take its
// lock briefly.
type Meter struct {
	mu    sync.Mutex
	calls map[string]map[string]*heard // by call id, then participant id
}

// heard is one participant's latest measured level.
type heard struct {
	dBFS     float64
	heard    int64 // unix ns of the last frame
	measured int64 // unix ns of the last frame measured
}

// New makes a meter that knows no call yet.
func New() *Meter {
	return &Meter{calls: map[string]map[string]*heard{}}
}

// Frame records f's level, measuring one frame per levelEvery of each
// participant. Frames of a stream no roster names yet are skipped (the
// status page lists roster members only), and so are packet frames without
// a level.
//
// Steady state: no alloc (entries are made on a participant's first frame).
func (m *Meter) Frame(f *audio.Frame) {
	if f.ParticipantID == "" || f.PCM == nil && !f.HasLevel {
		return
	}
	now := time.Now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	byPart := m.calls[f.CallID]
	if byPart == nil {
		byPart = map[string]*heard{}
		m.calls[f.CallID] = byPart
	}
	l := byPart[f.ParticipantID]
	if l == nil {
		l = &heard{}
		byPart[f.ParticipantID] = l
	}
	l.heard = now
	if now-l.measured < int64(levelEvery) {
		return
	}
	l.measured = now
	if f.PCM == nil {
		l.dBFS = -float64(f.Level) // dBov of a sine is its dBFS less 3 dB: close enough for a meter
		return
	}
	l.dBFS = max(speech.PCMDBFS(f.PCM), SilenceDBFS)
}

// Participants returns the levels (dBFS) of a call's participants at now,
// by participant id; nil for a call with no audio yet, and for a nil meter.
func (m *Meter) Participants(callID string, now time.Time) map[string]float64 {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byPart := m.calls[callID]
	if byPart == nil {
		return nil
	}
	ns := now.UnixNano()
	out := make(map[string]float64, len(byPart))
	for id, l := range byPart {
		out[id] = SilenceDBFS
		if ns-l.heard <= int64(levelHold) {
			out[id] = l.dBFS
		}
	}
	return out
}

// EndCall forgets a call's levels. Call it once the call's streams have
// delivered their last frames, or a late frame brings the entries back. A
// nil meter does nothing.
func (m *Meter) EndCall(callID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.calls, callID)
}
