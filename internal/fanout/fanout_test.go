package fanout

import (
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
