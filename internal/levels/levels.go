// Package levels follows how loud each participant of each call is, and
// whether they are speaking, for the status page.
package levels

import (
	"math"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

const (
	// speakingThresholdDBFS is the frame level above which a participant
	// counts as speaking: well above Opus's comfort noise and a quiet room,
	// well below conversational speech (-30 to -15 dBFS).
	speakingThresholdDBFS = -40.0
	// speakingHold keeps a participant marked as speaking across the short
	// pauses between words, so the status page does not flicker.
	speakingHold = 400 * time.Millisecond
	// levelHold is how long a frame's level stands for the participant's
	// level; after it (DTX, a muted microphone, a stalled stream) the level
	// reads as silence.
	levelHold = 500 * time.Millisecond
	// SilenceDBFS is the level of digital silence and of no audio at all:
	// the dBFS of one LSB is about -90, and JSON has no -Inf.
	SilenceDBFS = -100.0
)

// Meter follows how loud each participant of each call is, for the
// status page. It is a FrameConsumer on a drainer goroutine of its own, off
// the packet path; readers (status requests) take its lock briefly.
type Meter struct {
	mu    sync.Mutex
	calls map[string]map[string]*heard // by call id, then participant id
}

// heard is one participant's latest measured level and when they last spoke.
type heard struct {
	dBFS      float64
	heard     int64 // unix ns of the last frame
	measured  int64 // unix ns of the last frame measured
	lastSpoke int64 // unix ns of the last measured frame above the speaking threshold
}

// levelEvery is how often a participant's level is measured: five times a
// second is more than a page refreshed each second shows, well inside
// speakingHold, and a fifth of the work of measuring every frame.
const levelEvery = 200 * time.Millisecond

// Level is a participant's level as a status request sees it.
type Level struct {
	DBFS     float64
	Speaking bool
}

// New makes a meter that knows no call yet.
func New() *Meter {
	return &Meter{calls: map[string]map[string]*heard{}}
}

// RingFrames is the level meter's ring per stream: 16 of the frames it
// keeps, 1.6 s. The meter is quick, and a level it misses under load is of
// no consequence.
const RingFrames = 16

// FrameEvery is the meter's share of a stream's frames: one in five,
// every 100 ms, twice as often as it measures (levelEvery) and well inside
// levelHold, after which a participant it hears nothing of reads as silent.
// The other frames are never copied for it.
const FrameEvery = 5

// Frame records f's level, measuring one frame per levelEvery of each
// participant. Frames of a stream no roster names yet are skipped: the
// status page lists roster members only.
//
// Steady state: no alloc (entries are made on a participant's first frame).
func (m *Meter) Frame(f *audio.Frame) {
	if f.ParticipantID == "" {
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
	l.dBFS, l.measured = frameDBFS(f.PCM), now
	if l.dBFS > speakingThresholdDBFS {
		l.lastSpoke = now
	}
}

// participants returns the levels of a call's participants at now, by
// participant id; nil for a call with no audio yet, and for a nil meter.
func (m *Meter) Participants(callID string, now time.Time) map[string]Level {
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
	out := make(map[string]Level, len(byPart))
	for id, l := range byPart {
		pl := Level{DBFS: SilenceDBFS}
		if ns-l.heard <= int64(levelHold) {
			pl.DBFS = l.dBFS
		}
		pl.Speaking = l.lastSpoke != 0 && ns-l.lastSpoke <= int64(speakingHold)
		out[id] = pl
	}
	return out
}

// endCall forgets a call's levels. Call it once the call's streams have
// delivered their last frames (after call.streams.Wait), or a late frame
// brings the entries back. A nil meter does nothing.
func (m *Meter) EndCall(callID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.calls, callID)
}

// frameDBFS is the RMS level of pcm in dBFS (a full-scale square wave is
// 0), SilenceDBFS for an empty or all-zero frame.
func frameDBFS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return SilenceDBFS
	}
	var sum float64
	for _, s := range pcm {
		v := float64(s)
		sum += v * v
	}
	if sum == 0 {
		return SilenceDBFS
	}
	rms := math.Sqrt(sum/float64(len(pcm))) / 32768
	return max(20*math.Log10(rms), SilenceDBFS)
}
