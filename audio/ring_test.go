package audio

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"
)

// ringFrame is frame n of a test sequence: its number is its MediaTimeMs
// and every sample is derived from it, so a torn or stale copy shows.
func ringFrame(n int64, samples int) *Frame {
	f := &Frame{CallID: testCall, SSRC: testSSRC, Seq: uint16(n), MediaTimeMs: n,
		SampleRate: 16000, Concealed: n%3 == 0, PCM: make([]int16, samples)}
	fillRingPCM(f.PCM, n)
	return f
}

func fillRingPCM(pcm []int16, n int64) {
	for i := range pcm {
		pcm[i] = int16((n + int64(i)) % 32768)
	}
}

// checkRingFrame reports how f differs from frame n, or "".
func checkRingFrame(f *Frame, n int64) string {
	if f.MediaTimeMs != n || f.Seq != uint16(n) || f.Concealed != (n%3 == 0) {
		return fmt.Sprintf("frame %d arrived as MediaTimeMs %d Seq %d Concealed %v", n, f.MediaTimeMs, f.Seq, f.Concealed)
	}
	for i, x := range f.PCM {
		if want := int16((n + int64(i)) % 32768); x != want {
			return fmt.Sprintf("frame %d: PCM[%d] = %d, want %d", n, i, x, want)
		}
	}
	return ""
}

// ringCapacity counts the Puts an empty ring takes before it is full.
func ringCapacity(r *Ring) int {
	f := ringFrame(0, 1)
	n := 0
	for r.Put(f) {
		n++
	}
	return n
}

func TestRingDrainsInOrderWithCopiedSamples(t *testing.T) {
	r := NewRing(8)
	src := ringFrame(0, MaxFrameSamples)
	for n := range int64(5) {
		src.MediaTimeMs, src.Seq, src.Concealed = n, uint16(n), n%3 == 0
		src.PCM = src.PCM[:MaxFrameSamples-int(n)] // lengths differ per frame
		fillRingPCM(src.PCM, n)
		if !r.Put(src) {
			t.Fatalf("Put %d into an empty ring of 8 failed", n)
		}
		fillRingPCM(src.PCM, 999) // the producer reuses its buffer at once
	}
	if r.Len() != 5 {
		t.Fatalf("Len %d, want 5", r.Len())
	}
	var got []int64
	n := r.Drain(func(f *Frame) {
		i := int64(len(got))
		got = append(got, f.MediaTimeMs)
		if msg := checkRingFrame(f, i); msg != "" {
			t.Error(msg)
		}
		if len(f.PCM) != MaxFrameSamples-int(i) {
			t.Errorf("frame %d: %d samples, want %d", i, len(f.PCM), MaxFrameSamples-int(i))
		}
		if f.CallID != testCall || f.SSRC != testSSRC || f.SampleRate != 16000 {
			t.Errorf("frame %d lost its identity: %+v", i, *f)
		}
	})
	if n != 5 || !reflect.DeepEqual(got, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("Drain handed %d frames %v, want 5 frames [0 1 2 3 4]", n, got)
	}
	if r.Len() != 0 || r.Drain(func(*Frame) { t.Error("a drained frame came back") }) != 0 {
		t.Errorf("ring not empty after Drain: Len %d", r.Len())
	}
}

func TestRingCapacityRoundsUpToAPowerOfTwo(t *testing.T) {
	tests := []struct{ size, want int }{
		{0, 1}, {1, 1}, {2, 2}, {3, 4}, {8, 8}, {9, 16}, {100, 128},
	}
	for _, tt := range tests {
		if got := ringCapacity(NewRing(tt.size)); got != tt.want {
			t.Errorf("NewRing(%d) holds %d frames, want %d", tt.size, got, tt.want)
		}
	}
}

func TestRingOverflowDropsTheNewFrameAndKeepsTheOld(t *testing.T) {
	r := NewRing(4)
	for n := range int64(4) {
		if !r.Put(ringFrame(n, 160)) {
			t.Fatalf("Put %d failed before the ring was full", n)
		}
	}
	for n := int64(4); n < 7; n++ {
		if r.Put(ringFrame(n, 160)) {
			t.Fatalf("Put %d into a full ring succeeded", n)
		}
	}
	if r.Overflows() != 3 || r.Len() != 4 {
		t.Errorf("Overflows %d, Len %d; want 3, 4", r.Overflows(), r.Len())
	}
	next := int64(0)
	r.Drain(func(f *Frame) {
		if msg := checkRingFrame(f, next); msg != "" {
			t.Error(msg)
		}
		next++
	})
	if next != 4 {
		t.Errorf("%d frames survived, want the 4 put before the overflow", next)
	}
	if !r.Put(ringFrame(7, 160)) {
		t.Error("Put after Drain failed: the ring did not free its slots")
	}
}

// TestRingDoesNotAllocate holds Put and Drain to their hot-path promise.
func TestRingDoesNotAllocate(t *testing.T) {
	r := NewRing(256)
	f := ringFrame(1, MaxFrameSamples)
	if allocs := testing.AllocsPerRun(100, func() { r.Put(f) }); allocs != 0 {
		t.Errorf("Put allocates %v times per frame, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { r.Put(f) }); allocs != 0 { // full now
		t.Errorf("Put into a full ring allocates %v times, want 0", allocs)
	}
	var sum int
	fn := func(f *Frame) { sum += len(f.PCM) }
	if allocs := testing.AllocsPerRun(100, func() { r.Put(f); r.Put(f); r.Drain(fn) }); allocs != 0 {
		t.Errorf("Drain allocates %v times per call, want 0", allocs)
	}
}

// TestRingConcurrentProducerAndConsumer runs the ring as it runs in a call:
// a producer that never waits and a consumer that drains in a loop. Under
// -race it shows Put and Drain hand slots over safely.
func TestRingConcurrentProducerAndConsumer(t *testing.T) {
	const produced = 100_000
	r := NewRing(64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f := ringFrame(0, 8)
		for n := range int64(produced) {
			f.MediaTimeMs, f.Seq, f.Concealed = n, uint16(n), n%3 == 0
			fillRingPCM(f.PCM, n)
			r.Put(f)
			if n%256 == 0 {
				runtime.Gosched() // on 2 cores, let the consumer in now and then
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	deadline := time.After(20 * time.Second)
	last, delivered := int64(-1), 0
	var failure string
	check := func(f *Frame) {
		if f.MediaTimeMs <= last && failure == "" {
			failure = fmt.Sprintf("frame %d after frame %d: out of order or duplicated", f.MediaTimeMs, last)
		}
		if msg := checkRingFrame(f, f.MediaTimeMs); msg != "" && failure == "" {
			failure = msg
		}
		last = f.MediaTimeMs
		delivered++
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // drain once more below: the last Puts are in
		case <-deadline:
			t.Fatalf("producer not done after 20 s; %d frames delivered", delivered)
		default:
		}
		if r.Drain(check) == 0 {
			runtime.Gosched()
		}
	}
	r.Drain(check)
	if failure != "" {
		t.Fatal(failure)
	}
	if got := uint64(delivered) + r.Overflows(); got != produced {
		t.Errorf("delivered %d + overflows %d = %d, want %d produced", delivered, r.Overflows(), got, produced)
	}
	if delivered == 0 {
		t.Error("the consumer saw no frame")
	}
	t.Logf("%d delivered, %d overflowed", delivered, r.Overflows())
}

// A ring made for 16 kHz frames refuses (and counts) a larger frame rather
// than write past its slots.
func TestRingOfRefusesFramesLargerThanItsSlots(t *testing.T) {
	r := NewRingOf(4, 320)
	if !r.Put(&Frame{PCM: make([]int16, 320)}) {
		t.Fatal("a 320-sample frame was refused")
	}
	if r.Put(&Frame{PCM: make([]int16, 960)}) || r.Overflows() != 1 {
		t.Errorf("a 960-sample frame: overflows %d, want refused and counted", r.Overflows())
	}
}

func TestRingSampleEveryKeepsOneFrameInNAndCountsNoOverflow(t *testing.T) {
	r := NewRingOf(4, 8).SampleEvery(5)
	var got []int64
	for n := range int64(23) {
		if !r.Put(ringFrame(n, 8)) {
			t.Fatalf("Put %d refused", n)
		}
		r.Drain(func(f *Frame) {
			if d := checkRingFrame(f, f.MediaTimeMs); d != "" {
				t.Error(d)
			}
			got = append(got, f.MediaTimeMs)
		})
	}
	if want := []int64{0, 5, 10, 15, 20}; !reflect.DeepEqual(got, want) {
		t.Errorf("kept frames %v, want %v", got, want)
	}
	if o := r.Overflows(); o != 0 {
		t.Errorf("%d overflows counted for skipped frames, want 0", o)
	}
}
