package load

import (
	"strings"
	"testing"
)

// A burst is admitted up to the capacity, counting the calls still
// connecting as held: a call that fits is taken, the next refused, and
// the refusal says what was counted and what the capacity is.
func TestAdmitFillsUpToTheCapacity(t *testing.T) {
	st := State{Level: Normal, Capacity: Capacity{Streams: 400, CPUStreams: 400, ReaderStreams: 600}}
	fits := Pending{Streams: 300, Connecting: 24, StreamsPerCall: 4} // 300 + 25 × 4 = 400
	if got := Admit(st, fits); got.Level != Normal {
		t.Fatalf("%+v: %s (%s), want taken: it fits exactly", fits, got.Level, got.Reason)
	}
	over := Pending{Streams: 300, Connecting: 25, StreamsPerCall: 4}
	got := Admit(st, over)
	if got.Level != Overloaded || !strings.HasPrefix(got.Reason, "admission: 300 streams held, one more call and the 25 still connecting") ||
		!strings.Contains(got.Reason, "capacity 400 streams") {
		t.Errorf("%+v: %s (%s), want refused by the capacity", over, got.Level, got.Reason)
	}
}

// The place a connecting call held is the place its streams take once up:
// the same burst, half connected, is judged the same; the calls that
// failed give their place back at once.
func TestAdmitCountsAConnectedCallOnce(t *testing.T) {
	st := State{Level: Normal, Capacity: Capacity{Streams: 400}}
	for _, p := range []Pending{
		{Streams: 0, Connecting: 99, StreamsPerCall: 4},
		{Streams: 200, Connecting: 49, StreamsPerCall: 4},
		{Streams: 396, Connecting: 0, StreamsPerCall: 4},
	} {
		if got := Admit(st, p); got.Level != Normal {
			t.Errorf("%+v: %s (%s), want the 100th call taken", p, got.Level, got.Reason)
		}
	}
	if got := Admit(st, Pending{Streams: 396, Connecting: 1, StreamsPerCall: 4}); got.Level != Overloaded {
		t.Errorf("a 101st call: %s, want refused", got.Level)
	}
}

// A measured overload refuses every call, whatever the capacity says.
func TestAdmitKeepsAMeasuredOverload(t *testing.T) {
	st := State{Level: Overloaded, Reason: "delivery: 2.00% of frames over 40ms", Capacity: Capacity{Streams: 1000}}
	if got := Admit(st, Pending{StreamsPerCall: 4}); got.Level != Overloaded || got.Reason != st.Reason {
		t.Errorf("got %s (%s), want the measurement's overload", got.Level, got.Reason)
	}
}

// With nothing connecting, a refusal speaks of the one call it refuses.
func TestAdmitSaysWhatItRefusesWhenNothingConnects(t *testing.T) {
	got := Admit(State{Capacity: Capacity{Streams: 100}}, Pending{StreamsPerCall: 4, Streams: 100})
	if got.Level != Overloaded || !strings.Contains(got.Reason, "one more call of 4.0 streams") || strings.Contains(got.Reason, "connecting") {
		t.Errorf("%s (%s), want a refusal of one more call that says nothing of calls connecting", got.Level, got.Reason)
	}
}
