package audio

import (
	"sync"
	"time"
)

// MixedParticipant is the participant id of a call's mixed track.
const MixedParticipant = "mixed"

// mixWindowFrames is how much of the media clock a call's mix holds: frames
// may arrive this late (1.28 s) and still be mixed.
const mixWindowFrames = 64

// DefaultMixLag is how long a mixed frame waits for every stream's frame of
// the same moment before it is emitted.
const DefaultMixLag = 200 * time.Millisecond

// Mixer sums the participants' frames of each call on the call's media
// clock into one mixed track per call (participant id "mixed"), for
// consumers that want a single stream. It is a FrameConsumer fed by a
// Drainer; mixed frames go to its output rings, which other consumers'
// drainers empty.
type Mixer struct {
	rate, frameLen int
	lagFrames      int64
	out            []*Ring

	mu    sync.Mutex
	calls map[string]*callMix
	late  uint64
}

// callMix is one call's mixing buffer: mixWindowFrames frames of 32-bit
// sums at absolute frame positions (media time / 20 ms), circular.
type callMix struct {
	acc     []int32
	touched [mixWindowFrames]bool
	next    int64 // next frame index to emit
	newest  int64 // newest frame index written
	started bool
	frame   Frame
	pcm     []int16
}

// NewMixer mixes frames at rate, emitting each mixed frame lag after its
// moment (DefaultMixLag if zero), into out.
func NewMixer(rate int, lag time.Duration, out []*Ring) *Mixer {
	if lag <= 0 {
		lag = DefaultMixLag
	}
	return &Mixer{rate: rate, frameLen: rate * FrameMs / 1000, lagFrames: int64(lag / (FrameMs * time.Millisecond)),
		out: out, calls: map[string]*callMix{}}
}

// Frame adds f to its call's mix and emits the mixed frames whose moment is
// now lag in the past. Frames from before the emitted part are counted late.
func (m *Mixer) Frame(f *Frame) {
	if f.ParticipantID == MixedParticipant || len(f.PCM) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls[f.CallID]
	if c == nil {
		c = &callMix{acc: make([]int32, mixWindowFrames*m.frameLen), pcm: make([]int16, m.frameLen)}
		c.frame.CallID, c.frame.ParticipantID, c.frame.SampleRate = f.CallID, MixedParticipant, m.rate
		m.calls[f.CallID] = c
	}
	start := f.MediaTimeMs * int64(m.rate) / 1000 // absolute sample position
	first := start / int64(m.frameLen)
	if !c.started {
		c.started, c.next, c.newest = true, first, first
	}
	if first < c.next {
		m.late++
		return
	}
	for first+1 >= c.next+mixWindowFrames { // would wrap onto unemitted frames
		m.emit(c)
	}
	for i, x := range f.PCM {
		pos := start + int64(i)
		idx := pos / int64(m.frameLen)
		c.touched[idx%mixWindowFrames] = true
		c.acc[pos%int64(len(c.acc))] += int32(x)
	}
	c.newest = max(c.newest, (start+int64(len(f.PCM))-1)/int64(m.frameLen))
	for c.next+m.lagFrames < c.newest {
		m.emit(c)
	}
}

// EndCall emits what is left of the call's mix and forgets the call.
func (m *Mixer) EndCall(callID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.calls[callID]; c != nil {
		for c.next <= c.newest {
			m.emit(c)
		}
		delete(m.calls, callID)
	}
}

// Late is the number of frames that came after their moment was mixed.
func (m *Mixer) Late() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.late
}

// emit outputs frame c.next (if any stream contributed to it), clipped to
// 16 bits, and clears its slot.
func (m *Mixer) emit(c *callMix) {
	slot := c.next % mixWindowFrames
	base := int(slot) * m.frameLen
	if c.touched[slot] {
		for i := range c.pcm {
			c.pcm[i] = int16(max(min(c.acc[base+i], 32767), -32768))
		}
		c.frame.MediaTimeMs = c.next * FrameMs
		c.frame.PCM = c.pcm
		for _, r := range m.out {
			r.Put(&c.frame)
		}
	}
	clear(c.acc[base : base+m.frameLen])
	c.touched[slot] = false
	c.next++
}
