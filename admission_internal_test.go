package mediabot

import (
	"math"
	"runtime"
	"strconv"
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
	// 100 streams over 25 calls: 4 per call.
	withCallsOfMedia(b, 25)
	perCall := 4 * perStream.Seconds() / float64(runtime.NumCPU()) // idle share a call takes
	fits := int(math.Floor((0.30 - overloadedIdle) / perCall))     // calls that still fit

	b.calls["being refused"] = &call{} // no media session: not counted
	for i := range fits - 2 {
		b.calls["connecting-"+string(rune('a'+i))] = connectingCall()
	}
	if st := b.admission(); st.Level != LoadNormal {
		t.Fatalf("%d calls connecting and one more: %s (%s), want normal: %d fit", fits-2, st.Level, st.Reason, fits)
	}
	for _, id := range []string{"x", "y", "z"} {
		b.calls[id] = connectingCall()
	}
	st := b.admission()
	if st.Level != LoadOverloaded || !strings.HasPrefix(st.Reason, "admission:") || !strings.Contains(st.Reason, "calls connecting") {
		t.Errorf("%d calls connecting and one more: %s (%s), want overloaded by admission", fits+1, st.Level, st.Reason)
	}
}

// connectingCall is a call whose media session is not connected yet.
func connectingCall() *call {
	c := &call{}
	c.hasSession.Store(true)
	return c
}

// withCallsOfMedia gives b n calls whose media flows.
func withCallsOfMedia(b *Bot, n int) {
	c := &call{}
	c.mediaStart.Store(1)
	for i := range n {
		b.calls["media-"+strconv.Itoa(i)] = c
	}
}

// A media port's one reader fills before the machine does: a burst of calls
// is refused once their streams would keep it past its overload margin,
// though the machine has cores to spare.
func TestAdmissionKeepsTheBusiestReaderUnderItsMargin(t *testing.T) {
	const streams, busy = 400, 0.60
	b := &Bot{cfg: Config{AudioSections: 4}, calls: map[string]*call{}}
	b.load.Store(&LoadState{Level: LoadHeavy, MachineIdle: 0.90, Streams: streams,
		CPUPerStream: 1400 * time.Microsecond, ReaderBusy: busy, ReaderPort: 45000})
	b.streams.Store(streams)
	withCallsOfMedia(b, streams/4)
	perCall := 4 * busy / streams                                // of the one port's reader
	fits := int(math.Floor((overloadedReader - busy) / perCall)) // calls that still fit
	for i := range fits - 2 {
		b.calls["connecting-"+strconv.Itoa(i)] = connectingCall()
	}
	if st := b.admission(); st.Level == LoadOverloaded {
		t.Fatalf("%d calls connecting and one more: overloaded (%s), want taken: %d fit", fits-2, st.Reason, fits)
	}
	// Three more calls: connecting, or connected since the measurement.
	b.streams.Add(3 * 4)
	st := b.admission()
	if st.Level != LoadOverloaded || !strings.HasPrefix(st.Reason, "admission:") || !strings.Contains(st.Reason, "reader") {
		t.Errorf("%d calls connected since the measurement, %d connecting and one more: %s (%s), want overloaded by the reader's projection", 3, fits-2, st.Level, st.Reason)
	}
	b.streams.Add(-3 * 4)
	for _, id := range []string{"x", "y", "z"} {
		b.calls[id] = connectingCall()
	}
	st = b.admission()
	if st.Level != LoadOverloaded || !strings.HasPrefix(st.Reason, "admission:") || !strings.Contains(st.Reason, "reader") {
		t.Errorf("%d calls connecting and one more: %s (%s), want overloaded by the reader's projection", fits+1, st.Level, st.Reason)
	}
}
