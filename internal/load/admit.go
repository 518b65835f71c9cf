package load

import (
	"fmt"
	"time"
)

// Admission by measured cost: a new call is taken only if the machine keeps
// its overload margin once the call, and the calls still connecting, send
// their audio. The monitor sees a call's cost only a second or more after
// its media flows, so a burst of calls would otherwise all be taken on the
// strength of a measurement made before any of them.

// priorStreamCost is the CPU a stream is taken to cost before enough
// streams were measured: about 50 µs per 20 ms packet, what the load
// ladder measures (bench/load).
const priorStreamCost = 2500 * time.Microsecond

// minMeasuredStreams is how many streams the measured cost per stream
// needs before it replaces the prior: with fewer, the process's fixed
// costs weigh on each.
const minMeasuredStreams = 20

// Pending is what a new call would join: the calls not yet measured and
// the machine they share.
type Pending struct {
	// Connecting is the calls with a media session whose media has not
	// connected yet, placements waiting for Graph's reply included.
	Connecting int
	// StreamsPerCall is the streams a call brings: the mean of the calls
	// with media, or the offer's audio sections before there is one.
	StreamsPerCall float64
	// Streams is the streams being decoded now: those started since the
	// measurement are in it and not in State.Streams.
	Streams int
	// Ports is the number of media ports, CPUs the number of cores.
	Ports, CPUs int
}

// Admit is the load state a new call is judged by: st, overloaded when
// the projected load of the calls still connecting and of the new call
// would leave the machine under its overload margin, or fill the busiest
// media port's reader past its own.
func Admit(st State, p Pending) State {
	if st.Level == Overloaded {
		return st
	}
	streams := float64(p.Connecting+1) * p.StreamsPerCall // and the new call's
	measured := st.Streams >= minMeasuredStreams && st.CPUPerStream > 0
	cost := priorStreamCost
	if measured {
		cost = st.CPUPerStream
	}
	// Their set-up (ICE, DTLS) is already in the measured idle share.
	idle := st.MachineIdle - streams*cost.Seconds()/float64(max(p.CPUs, 1))
	if idle < overloadedIdle {
		st.Level = Overloaded
		st.Reason = fmt.Sprintf("admission: %s would leave the machine %.0f%% idle (below %.0f%%): now %.0f%% idle, %d streams at %s CPU/s each, %.1f streams per call",
			newcomers(p.Connecting), max(idle, 0)*100, overloadedIdle*100, st.MachineIdle*100, st.Streams, cost.Round(10*time.Microsecond), p.StreamsPerCall)
		return st
	}
	// Sessions take the ports in turn, so each port gets its share of the
	// new streams, each costing its reader what one costs the busiest now
	// (before that is measured: all of a stream's CPU). The streams started
	// since the measurement count too: the idle share above already paid for
	// their set-up, but the reader's busy share holds none of their packets.
	ports := float64(max(p.Ports, 1))
	perStream := cost.Seconds()
	if measured && st.ReaderBusy > 0 {
		perStream = st.ReaderBusy * ports / float64(st.Streams)
	}
	streams += float64(max(p.Streams-st.Streams, 0))
	reader := st.ReaderBusy + streams/ports*perStream
	if reader <= overloadedReader {
		return st
	}
	st.Level = Overloaded
	st.Reason = fmt.Sprintf("admission: %s would keep the busiest media port's reader %.0f%% busy (above %.0f%%: add --media-ports): now %.0f%%, %d streams on %.0f ports, %.1f streams per call",
		newcomers(p.Connecting), reader*100, overloadedReader*100, st.ReaderBusy*100, st.Streams, ports, p.StreamsPerCall)
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
