package audio

import (
	"sync/atomic"
	"testing"
)

// While Hold is closed frames are kept back, in order; when it opens they
// go out first; what is still held at the end, or beyond the bound, is
// dropped and counted.
func TestStreamHoldKeepsFramesBackUntilItOpens(t *testing.T) {
	var open atomic.Bool
	c := &frames{}
	st, err := NewStream(StreamConfig{CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", SampleRate: 16000,
		MediaStart: mediaStart, Consumer: c, Hold: open.Load, HoldFrames: 8})
	if err != nil {
		t.Fatal(err)
	}
	snd := newSender(t)
	for i := range 10 {
		st.Push(snd.next(20), arrival(i))
	}
	if len(c.got) != 0 {
		t.Fatalf("%d frames delivered while held", len(c.got))
	}
	open.Store(true)
	st.Push(snd.next(20), arrival(10))
	if len(c.got) != 9 { // the 8 held (2 oldest dropped) and the new one
		t.Fatalf("%d frames after opening, want 9", len(c.got))
	}
	for i := 1; i < len(c.got); i++ {
		if c.got[i].MediaTimeMs != c.got[i-1].MediaTimeMs+FrameMs {
			t.Fatalf("frames out of order at %d: %d after %d", i, c.got[i].MediaTimeMs, c.got[i-1].MediaTimeMs)
		}
	}
	if got := st.Stats().HoldDropped; got != 2 {
		t.Errorf("HoldDropped %d, want 2", got)
	}

	open.Store(false)
	for i := 11; i < 14; i++ {
		st.Push(snd.next(20), arrival(i))
	}
	st.Flush()
	if len(c.got) != 9 || st.Stats().HoldDropped != 5 {
		t.Errorf("after a closed end: %d frames, HoldDropped %d; want 9 and 5", len(c.got), st.Stats().HoldDropped)
	}
}
