// Package fanout hands every stream's frames to every consumer: the
// embedder's frame and packet consumers, the sinks, the mixer, the level
// meter and the speech detector. Each consumer has a drainer goroutine of
// its own (audio.Drainer) that empties, every 10 ms, the ring each stream
// keeps for it; a stream's decoder writes its frames into those rings and
// never waits for a consumer. A stream is decoded only when one of its
// consumers takes decoded frames; the others get its packets as received.
package fanout

import (
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

// mixRingFrames buffers the mixed frames of every call for one consumer.
const mixRingFrames = 1024

// Fanout is the set of consumers and the drainers that feed them. Add
// consumers before the first stream opens; after that its methods are safe
// for concurrent use.
type Fanout struct {
	rate     int
	drainers []*audio.Drainer
	names    []string // the consumer each drainer feeds, for metrics
	specs    []ringSpec
	takes    []func(mimeType string) Take
	mixer    *audio.Mixer
	observe  func(time.Duration)
	slowOver time.Duration
	frames   atomic.Uint64 // frames the first consumer received
	slow     atomic.Uint64 // of them, those delivered more than slowOver after arrival
	streams  atomic.Int64
}

// ringSpec is the ring a consumer gets per stream: frames slots, keeping
// one frame in every (all when 0).
type ringSpec struct{ frames, every int }

// Take is what a consumer takes of a stream.
type Take int

const (
	// TakeFrames: decoded frames.
	TakeFrames Take = iota
	// TakePackets: the packets as received, not decoded.
	TakePackets
	// TakeEither: decoded frames when the stream is decoded anyway (for
	// another consumer), else its packets.
	TakeEither
	// TakeNothing: nothing of this stream.
	TakeNothing
)

// Frames is what a consumer of decoded frames takes of any stream.
func Frames(string) Take { return TakeFrames }

// Either is what a consumer takes that can make do with packets.
func Either(string) Take { return TakeEither }

// TakeOf is what c takes of a stream: its packets when c is an
// audio.PacketConsumer that WantsPackets of the stream's codec, else its
// decoded frames when c is an audio.FrameConsumer, else nothing.
func TakeOf(c any) func(mimeType string) Take {
	return func(mimeType string) Take {
		if pc, ok := c.(audio.PacketConsumer); ok && pc.WantsPackets(mimeType) {
			return TakePackets
		}
		if _, ok := c.(audio.FrameConsumer); ok {
			return TakeFrames
		}
		return TakeNothing
	}
}

// Feed is c as its drainer calls it: packet frames to its Packet, decoded
// frames to its Frame.
func Feed(c any) audio.FrameConsumer { return feeder{c} }

type feeder struct{ c any }

// Frame hands f on. hot path (drainer): no alloc.
func (d feeder) Frame(f *audio.Frame) {
	if f.Payload != nil {
		if pc, ok := d.c.(audio.PacketConsumer); ok {
			pc.Packet(f)
		}
		return
	}
	if fc, ok := d.c.(audio.FrameConsumer); ok {
		fc.Frame(f)
	}
}

// New makes a fanout of frames at rate. The first consumer's frames are
// timed: observe gets each one's delay from its packet's arrival, and
// those later than slowOver are counted (FrameDelays).
func New(rate int, observe func(time.Duration), slowOver time.Duration) *Fanout {
	return &Fanout{rate: rate, observe: observe, slowOver: slowOver}
}

// Add gives consumer c a drainer of its own: each stream keeps a ring of
// frames slots for it, holding one frame in every (all when 0), of what
// take says c takes of the stream's codec. c is called with decoded and
// packet frames alike (Feed adapts a packet consumer).
func (f *Fanout) Add(c audio.FrameConsumer, name string, take func(mimeType string) Take, frames, every int) {
	if len(f.drainers) == 0 {
		c = timedConsumer{next: c, f: f}
	}
	f.drainers = append(f.drainers, audio.NewDrainer(c, 0))
	f.names = append(f.names, name)
	f.specs = append(f.specs, ringSpec{frames: frames, every: every})
	f.takes = append(f.takes, take)
}

// AddMixer puts a mixer behind a drainer of its own: every stream feeds it
// a ring like any consumer, and each call's mixed frames (participant id
// "mixed") reach the consumers added before it through rings of their own.
func (f *Fanout) AddMixer(frames int) {
	outs := make([]*audio.Ring, len(f.drainers))
	for i, d := range f.drainers {
		outs[i] = audio.NewRingOf(mixRingFrames, f.samples())
		d.Add(outs[i])
	}
	f.mixer = audio.NewMixer(f.rate, 0, outs)
	f.Add(f.mixer, "mixer", Frames, frames, 0)
}

func (f *Fanout) samples() int { return f.rate * audio.FrameMs / 1000 }

// Names are the consumers' names, in the order they were added: the
// consumer label of their metrics.
func (f *Fanout) Names() []string { return append([]string(nil), f.names...) }

// Streams is the number of streams attached now.
func (f *Fanout) Streams() int { return int(f.streams.Load()) }

// FrameDelays counts the frames delivered to the first consumer and those
// of them delivered more than slowOver after their packet arrived.
func (f *Fanout) FrameDelays() (frames, slow uint64) { return f.frames.Load(), f.slow.Load() }

// EndCall delivers the rest of a call's mix and waits until every consumer
// has it, so that the sinks can close the call.
func (f *Fanout) EndCall(callID string) {
	if f.mixer == nil {
		return
	}
	f.mixer.EndCall(callID)
	for _, d := range f.drainers {
		d.Sync()
	}
}

// Close stops the drainers once they have delivered what the rings hold.
func (f *Fanout) Close() {
	for _, d := range f.drainers {
		d.Close()
	}
}

// Outlet is one stream's rings: per consumer, a ring of decoded frames, a
// ring of packets, or none.
type Outlet struct {
	f               *Fanout
	rings           []*audio.Ring // by consumer; nil for one that takes nothing
	frames, packets []*audio.Ring
}

// NewOutlet makes the rings of one stream of codec mimeType; nothing
// drains them before Attach.
func (f *Fanout) NewOutlet(mimeType string) *Outlet {
	o := &Outlet{f: f, rings: make([]*audio.Ring, len(f.specs))}
	takes := make([]Take, len(f.specs))
	decoded := false
	for i := range f.specs {
		takes[i] = f.takes[i](mimeType)
		decoded = decoded || takes[i] == TakeFrames
	}
	for i, s := range f.specs {
		switch t := takes[i]; {
		case t == TakeFrames || t == TakeEither && decoded:
			o.rings[i] = audio.NewRingOf(s.frames, f.samples()).SampleEvery(s.every)
			o.frames = append(o.frames, o.rings[i])
		case t == TakePackets || t == TakeEither:
			o.rings[i] = audio.NewPacketRing(s.frames).SampleEvery(s.every)
			o.packets = append(o.packets, o.rings[i])
		}
	}
	return o
}

// Rings are the stream's rings of decoded frames, for its decoder to write
// into; none when no consumer takes them (the stream is then not decoded).
func (o *Outlet) Rings() []*audio.Ring { return o.frames }

// PacketRings are the stream's rings of packets as received.
func (o *Outlet) PacketRings() []*audio.Ring { return o.packets }

// Attach starts draining the stream's rings.
func (o *Outlet) Attach() {
	for i, d := range o.f.drainers {
		if o.rings[i] != nil {
			d.Add(o.rings[i])
		}
	}
	o.f.streams.Add(1)
}

// Detach stops draining the rings once their last frames are delivered,
// and returns then, with the frames each consumer lost to a full ring, by
// consumer name. The stream's decoder must have stopped.
func (o *Outlet) Detach() map[string]uint64 {
	overflows := make(map[string]uint64, len(o.rings))
	for i, d := range o.f.drainers {
		if o.rings[i] != nil {
			d.Remove(o.rings[i])
			overflows[o.f.names[i]] += o.rings[i].Overflows()
		}
	}
	o.f.streams.Add(-1)
	return overflows
}

// timedConsumer observes each frame's delay before handing it on.
type timedConsumer struct {
	next audio.FrameConsumer
	f    *Fanout
}

// Frame observes and forwards fr.
//
// hot path (drainer): no alloc.
func (t timedConsumer) Frame(fr *audio.Frame) {
	if !fr.Concealed {
		d := time.Since(fr.Arrival)
		if t.f.observe != nil {
			t.f.observe(d)
		}
		t.f.frames.Add(1)
		if d > t.f.slowOver {
			t.f.slow.Add(1)
		}
	}
	t.next.Frame(fr)
}
