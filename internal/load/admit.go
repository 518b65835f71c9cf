package load

import "fmt"

// Admission by capacity: a new call is taken while the streams held, those
// of the calls still connecting and the new call's fit in the instance's
// capacity. The calls connecting hold their place until their media is up
// (then their streams are held ones) or they fail (then it is free again),
// so a burst is admitted up to the capacity, and the calls after it and
// the redials get what the burst left, as soon as it is known.

// Pending is what a new call would join.
type Pending struct {
	// Streams is the streams being decoded now.
	Streams int
	// Connecting is the calls with a media session whose media has not
	// connected yet, placements waiting for Graph's reply included.
	Connecting int
	// StreamsPerCall is the streams a call brings: the mean of the calls
	// with media, or the offer's audio sections before there is one.
	StreamsPerCall float64
}

// Admit is the load state a new call is judged by: st, overloaded when
// the streams held, those of the calls connecting and the new call's would
// pass the capacity. A measured overload (late frames, a full reader,
// goroutines waiting for a core, sustained) refuses every call.
func Admit(st State, p Pending) State {
	if st.Level == Overloaded {
		return st
	}
	want := float64(p.Streams) + float64(p.Connecting+1)*p.StreamsPerCall
	if want <= float64(st.Capacity.Streams) {
		return st
	}
	st.Level = Overloaded
	st.Reason = fmt.Sprintf("admission: %d streams held, %s of %.1f streams each would need %.0f: %s",
		p.Streams, newcomers(p.Connecting), p.StreamsPerCall, want, st.Capacity)
	return st
}

// newcomers names what admission projects: the new call, and the calls
// still connecting when there are any.
func newcomers(connecting int) string {
	switch connecting {
	case 0:
		return "one more call"
	case 1:
		return "one more call and the one still connecting"
	}
	return fmt.Sprintf("one more call and the %d still connecting", connecting)
}
