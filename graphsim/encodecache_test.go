package graphsim

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestEncodeCacheEncodesEachVoiceOnceForConcurrentCalls(t *testing.T) {
	var encodes atomic.Int32
	counting := opusSend
	counting.encode = func(v Voice, frames int) ([][]byte, error) {
		encodes.Add(1)
		return Voice.EncodeOpus(v, frames)
	}
	var c encodeCache
	v := Cast[0].Voice
	got := make([][][]byte, 16)
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
		if len(p) != 50 || &p[0][0] != &got[0][0][0] {
			t.Fatalf("call %d got %d packets, not the shared 50", i, len(p))
		}
	}
}

func TestEncodeCacheKeepsVoicesCodecsAndLengthsApart(t *testing.T) {
	var c encodeCache
	a, _ := c.get(Cast[0].Voice, opusSend, 10)
	b, _ := c.get(Cast[1].Voice, opusSend, 10)
	u, _ := c.get(Cast[0].Voice, pcmuSend, 10)
	long, _ := c.get(Cast[0].Voice, opusSend, 20)
	if &a[0][0] == &b[0][0] || &a[0][0] == &u[0][0] || len(long) != 20 || len(u[0]) != 160 {
		t.Fatal("distinct encodings share packets")
	}
}
