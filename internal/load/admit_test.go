package load

import (
	"math"
	"strings"
	"testing"
	"time"
)

// A burst of calls is refused once the calls still connecting would take
// the machine under its overload margin, before any of them is measured.
func TestAdmitCountsTheCallsStillConnecting(t *testing.T) {
	const perStream, cpus = 2500 * time.Microsecond, 2
	st := State{Level: Normal, MachineIdle: 0.30, Streams: 100, CPUPerStream: perStream}
	perCall := 4 * perStream.Seconds() / cpus                  // idle share a call takes
	fits := int(math.Floor((0.30 - overloadedIdle) / perCall)) // calls that still fit
	pending := Pending{StreamsPerCall: 4, Streams: 100, Ports: 1, CPUs: cpus}

	pending.Connecting = fits - 2
	if got := Admit(st, pending); got.Level != Normal {
		t.Fatalf("%d calls connecting and one more: %s (%s), want normal: %d fit", pending.Connecting, got.Level, got.Reason, fits)
	}
	pending.Connecting = fits + 1
	got := Admit(st, pending)
	if got.Level != Overloaded || !strings.HasPrefix(got.Reason, "admission:") || !strings.Contains(got.Reason, "still connecting") {
		t.Errorf("%d calls connecting and one more: %s (%s), want overloaded by admission", pending.Connecting, got.Level, got.Reason)
	}
}

// A media port's one reader fills before the machine does: a burst of calls
// is refused once their streams would keep it past its overload margin,
// though the machine has cores to spare.
func TestAdmitKeepsTheBusiestReaderUnderItsMargin(t *testing.T) {
	const streams, busy = 400, 0.60
	st := State{Level: Heavy, MachineIdle: 0.90, Streams: streams,
		CPUPerStream: 1400 * time.Microsecond, ReaderBusy: busy, ReaderPort: 45000}
	perCall := 4 * busy / streams                                // of the one port's reader
	fits := int(math.Floor((overloadedReader - busy) / perCall)) // calls that still fit
	pending := Pending{Connecting: fits - 2, StreamsPerCall: 4, Streams: streams, Ports: 1, CPUs: 2}
	if got := Admit(st, pending); got.Level == Overloaded {
		t.Fatalf("%d calls connecting and one more: overloaded (%s), want taken: %d fit", pending.Connecting, got.Reason, fits)
	}
	cases := []struct {
		name string
		p    Pending
	}{
		{"three calls connected since the measurement", Pending{Connecting: fits - 2, StreamsPerCall: 4, Streams: streams + 3*4, Ports: 1, CPUs: 2}},
		{"three more calls connecting", Pending{Connecting: fits + 1, StreamsPerCall: 4, Streams: streams, Ports: 1, CPUs: 2}},
	}
	for _, tc := range cases {
		got := Admit(st, tc.p)
		if got.Level != Overloaded || !strings.HasPrefix(got.Reason, "admission:") || !strings.Contains(got.Reason, "reader") {
			t.Errorf("%s: %s (%s), want overloaded by the reader's projection", tc.name, got.Level, got.Reason)
		}
	}
	// Two ports share the new streams: the same burst fits.
	two := Pending{Connecting: fits + 1, StreamsPerCall: 4, Streams: streams, Ports: 2, CPUs: 2}
	if got := Admit(State{Level: Normal, MachineIdle: 0.9, Streams: streams, CPUPerStream: 1400 * time.Microsecond, ReaderBusy: busy / 2}, two); got.Level == Overloaded {
		t.Errorf("two ports at %.0f%%: overloaded (%s), want taken", busy/2*100, got.Reason)
	}
}

// An overloaded measurement stays overloaded whatever is pending.
func TestAdmitKeepsAnOverloadedMeasurement(t *testing.T) {
	st := State{Level: Overloaded, Reason: "cpu: machine 5% idle", MachineIdle: 0.05}
	if got := Admit(st, Pending{StreamsPerCall: 4, Ports: 1, CPUs: 2}); got.Level != Overloaded || got.Reason != st.Reason {
		t.Errorf("got %s (%s), want the measurement's overload", got.Level, got.Reason)
	}
}

// With nothing connecting, a refusal speaks of the one call it refuses.
func TestAdmitSaysWhatItRefusesWhenNothingConnects(t *testing.T) {
	got := Admit(State{Level: Normal, MachineIdle: 0.201, Streams: 100, CPUPerStream: 2500 * time.Microsecond}, Pending{StreamsPerCall: 4, Streams: 100, Ports: 1, CPUs: 2})
	if got.Level != Overloaded || !strings.HasPrefix(got.Reason, "admission: one more call would") || strings.Contains(got.Reason, "connecting") {
		t.Errorf("%s (%s), want a refusal of one more call that says nothing of calls connecting", got.Level, got.Reason)
	}
}
