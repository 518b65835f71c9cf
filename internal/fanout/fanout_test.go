package fanout

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

// count is a consumer that counts the frames of each participant.
type count struct {
	mu  sync.Mutex
	per map[string]int
}

func (c *count) Frame(f *audio.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.per[f.ParticipantID]++
}

func (c *count) of(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.per[id]
}

// Every frame of a stream reaches every consumer, except those a consumer
// keeps one in n of; Detach returns once they were delivered, with the
// overflows of each consumer; only the first consumer's frames are timed.
func TestEveryConsumerGetsEveryFrameOnceDetached(t *testing.T) {
	var observed int
	var mu sync.Mutex
	f := New(16000, func(time.Duration) { mu.Lock(); observed++; mu.Unlock() }, 40*time.Millisecond)
	defer f.Close()
	all, sampled := &count{per: map[string]int{}}, &count{per: map[string]int{}}
	f.Add(all, "all", Frames, 64, 0)
	f.Add(sampled, "sampled", Frames, 16, 5)

	o := f.NewOutlet("audio/opus")
	o.Attach()
	if f.Streams() != 1 {
		t.Fatalf("%d streams attached, want 1", f.Streams())
	}
	pcm := make([]int16, 320)
	old := time.Now().Add(-time.Second) // every frame is slow
	for i := range 50 {
		for _, r := range o.Rings() {
			r.Put(&audio.Frame{ParticipantID: "alice", Seq: uint16(i), Arrival: old, PCM: pcm})
		}
		time.Sleep(time.Millisecond)
	}
	overflows := o.Detach()
	if got := all.of("alice"); got != 50 {
		t.Errorf("first consumer got %d frames, want 50", got)
	}
	if got := sampled.of("alice"); got != 10 {
		t.Errorf("one-in-five consumer got %d frames, want 10", got)
	}
	if overflows["all"] != 0 || overflows["sampled"] != 0 {
		t.Errorf("overflows %v, want none", overflows)
	}
	frames, slow := f.FrameDelays()
	mu.Lock()
	defer mu.Unlock()
	if frames != 50 || slow != 50 || observed != 50 {
		t.Errorf("timed %d frames, %d slow, %d observed; want 50 of the first consumer, all slow", frames, slow, observed)
	}
	if f.Streams() != 0 {
		t.Errorf("%d streams after Detach", f.Streams())
	}
}

// packetTaker takes the packets of Opus streams, and decoded frames of the
// others.
type packetTaker struct{ count }

func (p *packetTaker) Packet(f *audio.Frame)             { p.Frame(f) }
func (p *packetTaker) WantsPackets(mimeType string) bool { return mimeType == "audio/opus" }

// A stream is decoded only if a consumer takes its decoded frames: with a
// packet consumer and one that makes do with either, an Opus stream gets
// packet rings only (nothing decodes it), a G.711 one decoded rings for
// both; with a frame consumer too, everyone but the packet consumer gets
// decoded frames.
func TestStreamsAreDecodedOnlyForConsumersOfFrames(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		frameConsumer        bool
		mime                 string
		wantFrames, wantPkts int
	}{
		{"opus, no frame consumer", false, "audio/opus", 0, 2},
		{"g711, no frame consumer", false, "audio/PCMU", 2, 0},
		{"opus, a frame consumer", true, "audio/opus", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(16000, nil, 40*time.Millisecond)
			defer f.Close()
			pt := &packetTaker{count{per: map[string]int{}}}
			f.Add(Feed(pt), "packets", TakeOf(pt), 16, 0)
			f.Add(&count{per: map[string]int{}}, "either", Either, 16, 0)
			if tc.frameConsumer {
				f.Add(&count{per: map[string]int{}}, "frames", Frames, 16, 0)
			}
			o := f.NewOutlet(tc.mime)
			if len(o.Rings()) != tc.wantFrames || len(o.PacketRings()) != tc.wantPkts {
				t.Errorf("%d decoded rings and %d packet rings, want %d and %d", len(o.Rings()), len(o.PacketRings()), tc.wantFrames, tc.wantPkts)
			}
		})
	}
}

// A packet frame reaches a packet consumer's Packet, a decoded one its
// Frame: Feed tells them apart by the payload.
func TestFeedHandsPacketsToPacket(t *testing.T) {
	var packets, frames int
	c := struct {
		audio.FrameConsumer
		audio.PacketConsumer
	}{frameFunc(func(*audio.Frame) { frames++ }), packetFunc(func(*audio.Frame) { packets++ })}
	Feed(c).Frame(&audio.Frame{Payload: []byte{0xf8}})
	Feed(c).Frame(&audio.Frame{PCM: make([]int16, 320)})
	if packets != 1 || frames != 1 {
		t.Errorf("%d packets and %d frames delivered, want 1 and 1", packets, frames)
	}
}

type frameFunc func(*audio.Frame)

func (f frameFunc) Frame(fr *audio.Frame) { f(fr) }

type packetFunc func(*audio.Frame)

func (f packetFunc) Packet(fr *audio.Frame)   { f(fr) }
func (f packetFunc) WantsPackets(string) bool { return true }

// Names are the consumers' names in the order added, the mixer's among
// them, and a copy.
func TestNamesInOrderAdded(t *testing.T) {
	f := New(16000, nil, 40*time.Millisecond)
	defer f.Close()
	f.Add(&count{per: map[string]int{}}, "consumer-1", Frames, 64, 0)
	f.AddMixer(64)
	f.Add(&count{per: map[string]int{}}, "speech", Either, 64, 0)
	names := f.Names()
	if got := strings.Join(names, ","); got != "consumer-1,mixer,speech" {
		t.Fatalf("names %s, want consumer-1,mixer,speech", got)
	}
	names[0] = "changed"
	if f.Names()[0] != "consumer-1" {
		t.Error("Names shares the fanout's slice")
	}
}
