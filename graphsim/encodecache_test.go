package graphsim

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestEncodeCacheEncodesEachVoiceOnceForConcurrentCalls(t *testing.T) {
	var encodes atomic.Int32
	counting := opusSend
	counting.encode = func(v Voice, frames int) (encoding, error) {
		encodes.Add(1)
		return v.encodeOpus(frames)
	}
	var c encodeCache
	v := Cast[0].Voice
	got := make([]encoding, 16)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			p, err := c.get(v, counting, 50)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	if n := encodes.Load(); n != 1 {
		t.Fatalf("encoded %d times, want once", n)
	}
	for i, p := range got {
		if len(p.payloads) != 50 || &p.payloads[0][0] != &got[0].payloads[0][0] || len(p.levels) != 50 || &p.levels[0] != &got[0].levels[0] {
			t.Fatalf("call %d got %d packets and %d levels, not the shared 50", i, len(p.payloads), len(p.levels))
		}
	}
}

func TestEncodeCacheKeepsVoicesCodecsAndLengthsApart(t *testing.T) {
	var c encodeCache
	a, _ := c.get(Cast[0].Voice, opusSend, 10)
	b, _ := c.get(Cast[1].Voice, opusSend, 10)
	u, _ := c.get(Cast[0].Voice, pcmuSend, 10)
	long, _ := c.get(Cast[0].Voice, opusSend, 20)
	if &a.payloads[0][0] == &b.payloads[0][0] || &a.payloads[0][0] == &u.payloads[0][0] || len(long.payloads) != 20 || len(u.payloads[0]) != 160 {
		t.Fatal("distinct encodings share packets")
	}
}
