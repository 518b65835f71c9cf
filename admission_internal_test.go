package mediabot

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A burst of calls is refused once the calls still connecting would take
// the machine under its overload margin, before any of them is measured.
func TestAdmissionCountsTheCallsStillConnecting(t *testing.T) {
	const perStream = 2500 * time.Microsecond
	b := &Bot{cfg: Config{AudioSections: 4}, calls: map[string]*call{}}
	b.load.Store(&LoadState{Level: LoadNormal, MachineIdle: 0.30, Streams: 100, CPUPerStream: perStream})
	b.streams.Store(100)
	withMedia := &call{}
	withMedia.mediaStart.Store(1)
	for i := range 25 { // 100 streams over 25 calls: 4 per call
		b.calls[string(rune('a'+i))] = withMedia
	}
	perCall := 4 * perStream.Seconds() / float64(runtime.NumCPU()) // idle share a call takes
	fits := int(math.Floor((0.30 - overloadedIdle) / perCall))     // calls that still fit

	connecting := func() *call {
		c := &call{}
		c.hasSession.Store(true)
		return c
	}
	b.calls["being refused"] = &call{} // no media session: not counted
	for i := range fits - 2 {
		b.calls["connecting-"+string(rune('a'+i))] = connecting()
	}
	if st := b.admission(); st.Level != LoadNormal {
		t.Fatalf("%d calls connecting and one more: %s (%s), want normal: %d fit", fits-2, st.Level, st.Reason, fits)
	}
	for _, id := range []string{"x", "y", "z"} {
		b.calls[id] = connecting()
	}
	st := b.admission()
	if st.Level != LoadOverloaded || !strings.HasPrefix(st.Reason, "admission:") || !strings.Contains(st.Reason, "calls connecting") {
		t.Errorf("%d calls connecting and one more: %s (%s), want overloaded by admission", fits+1, st.Level, st.Reason)
	}
}
