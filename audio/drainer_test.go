package audio

import (
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// returnsWithin fails the test when fn has not returned after timeout.
func returnsWithin(t *testing.T, timeout time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s has not returned after %v", what, timeout)
	}
}

// lockedFrames copies frames under a lock, so the test may look while the
// drainer's goroutine delivers.
type lockedFrames struct {
	mu sync.Mutex
	frames
}

func (c *lockedFrames) Frame(f *Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames.Frame(f)
}

func (c *lockedFrames) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func TestDrainerDeliversEveryRingOnItsOwnGoroutine(t *testing.T) {
	c := &lockedFrames{}
	d := NewDrainer(c, time.Millisecond)
	rings := []*Ring{NewRing(8), NewRing(8), NewRing(8)}
	for _, r := range rings {
		d.Add(r)
	}
	for i, r := range rings {
		for n := range int64(5) {
			f := ringFrame(n, 160)
			f.SSRC = uint32(i)
			r.Put(f)
		}
	}
	// Nobody calls the drainer: frames arrive on its goroutine alone.
	waitFor(t, 5*time.Second, "15 frames delivered", func() bool { return d.Frames() == 15 })
	d.Close()
	if len(c.got) != 15 {
		t.Fatalf("consumer got %d frames, want 15", len(c.got))
	}
	next := map[uint32]int64{}
	for _, f := range c.got {
		if msg := checkRingFrame(&f, next[f.SSRC]); msg != "" {
			t.Errorf("ring %d: %s", f.SSRC, msg)
		}
		next[f.SSRC]++
	}
	for i := range rings {
		if next[uint32(i)] != 5 {
			t.Errorf("ring %d: %d frames delivered, want 5", i, next[uint32(i)])
		}
	}
}

func TestDrainerRemoveReturnsAfterTheLastFrames(t *testing.T) {
	c := &lockedFrames{}
	d := NewDrainer(c, 5*time.Millisecond)
	defer d.Close()
	keep, gone := NewRing(16), NewRing(16)
	d.Add(keep)
	d.Add(gone)
	for n := range int64(10) {
		gone.Put(ringFrame(n, 160))
	}
	returnsWithin(t, 5*time.Second, "Remove", func() { d.Remove(gone) })
	// Remove returned: the consumer has had all ten, without waiting more.
	if got := c.count(); got != 10 || d.Frames() != 10 {
		t.Fatalf("after Remove the consumer has %d frames (Frames %d), want 10", c.count(), d.Frames())
	}
	gone.Put(ringFrame(10, 160)) // no longer drained
	keep.Put(ringFrame(0, 160))  // still drained
	waitFor(t, 5*time.Second, "the kept ring drained", func() bool { return d.Frames() == 11 })
	time.Sleep(20 * time.Millisecond) // a few more ticks
	if d.Frames() != 11 || gone.Len() != 1 {
		t.Errorf("a removed ring is still drained: Frames %d, its Len %d", d.Frames(), gone.Len())
	}
}

func TestDrainerRemoveOfAnUnknownRingReturns(t *testing.T) {
	d := NewDrainer(nopConsumer{}, 5*time.Millisecond)
	returnsWithin(t, 5*time.Second, "Remove of a ring never added", func() { d.Remove(NewRing(1)) })
	d.Close()
	returnsWithin(t, 5*time.Second, "Remove after Close", func() { d.Remove(NewRing(1)) })
}

func TestDrainerCloseDeliversTheRestAndStops(t *testing.T) {
	c := &lockedFrames{}
	d := NewDrainer(c, time.Hour) // no tick: only Close drains
	r := NewRing(16)
	d.Add(r)
	for n := range int64(7) {
		r.Put(ringFrame(n, 160))
	}
	returnsWithin(t, 5*time.Second, "Close", d.Close)
	if len(c.got) != 7 || d.Frames() != 7 {
		t.Fatalf("Close delivered %d frames (Frames %d), want 7", len(c.got), d.Frames())
	}
	r.Put(ringFrame(7, 160))
	returnsWithin(t, 5*time.Second, "a second Close", d.Close)
	time.Sleep(10 * time.Millisecond)
	if d.Frames() != 7 || r.Len() != 1 {
		t.Errorf("drained after Close: Frames %d, ring Len %d", d.Frames(), r.Len())
	}
}

// slowConsumer is a consumer that falls behind.
type slowConsumer struct{ n int }

func (c *slowConsumer) Frame(*Frame) { c.n++; time.Sleep(2 * time.Millisecond) }

func TestDrainerSlowConsumerMakesPutOverflowNotBlock(t *testing.T) {
	const produced = 10_000
	c := &slowConsumer{}
	d := NewDrainer(c, time.Millisecond)
	r := NewRing(8)
	d.Add(r)
	f := ringFrame(0, MaxFrameSamples)
	start := time.Now()
	for range produced {
		r.Put(f)
	}
	// Blocking on the consumer would take produced * 2 ms = 20 s.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("%d Puts took %v: the producer waited for the consumer", produced, took)
	}
	d.Close()
	if r.Overflows() == 0 {
		t.Error("no overflow although the consumer was far behind")
	}
	if got := d.Frames() + r.Overflows(); got != produced || uint64(c.n) != d.Frames() {
		t.Errorf("delivered %d (consumer saw %d) + overflows %d != %d produced",
			d.Frames(), c.n, r.Overflows(), produced)
	}
}

// TestDrainerDrainDoesNotAllocate: a drain runs every interval for every
// ring, for the whole call.
func TestDrainerDrainDoesNotAllocate(t *testing.T) {
	d := NewDrainer(nopConsumer{}, time.Hour) // its own goroutine stays idle
	defer d.Close()
	r := NewRing(8)
	d.Add(r)
	f := ringFrame(1, 320)
	if allocs := testing.AllocsPerRun(100, func() { r.Put(f); d.drain() }); allocs != 0 {
		t.Errorf("a drain allocates %v times, want 0", allocs)
	}
	if d.Frames() != 101 {
		t.Errorf("Frames %d, want 101", d.Frames())
	}
}
