package load

import (
	"fmt"
	"time"
)

// The thresholds: above these delays and shares the instance is heavy or
// overloaded, below heavyIdle heavy. Measured on the load ladder
// (bench/load): frames start arriving late (> 60 ms) when the machine is
// about 20 % idle, so the capacity keeps the machine over overloadedIdle;
// a decoding goroutine that waits 20 ms for a core has used a third of the
// window.
const (
	heavyIdle       = 0.35
	overloadedIdle  = 0.20
	heavyDelay      = 10 * time.Millisecond
	overloadedDelay = 20 * time.Millisecond
	heavySlow       = 0.001
	overloadedSlow  = 0.005
	// A reader past these shares of its core is near the point where
	// packets queue in the socket faster than it takes them (the rest of
	// its core goes to the socket reads themselves): on the load ladder
	// with one port, 85 % busy (700 streams) lost nothing, 90 % (800
	// streams) overflowed the socket. Admission keeps a port under
	// overloadedReader.
	heavyReader      = 0.65
	overloadedReader = 0.80
)

// SlowFrame is the delay from a packet's arrival to its frame's delivery
// past which the frame counts in State.SlowFrames.
const SlowFrame = 40 * time.Millisecond

// Judge names the level of a measurement and the resource that set it.
func Judge(st State) (Level, string) {
	cost := ""
	if st.Streams > 0 {
		cost = fmt.Sprintf("; %d streams at %s CPU/s each", st.Streams, st.CPUPerStream.Round(10*time.Microsecond))
	}
	slow := func(level string, limit float64) string {
		return fmt.Sprintf("delivery: %.2f%% of frames over %s after arrival (%s above %.1f%%)%s", st.SlowFrames*100, SlowFrame, level, limit*100, cost)
	}
	reader := func(level string, limit float64) string {
		return fmt.Sprintf("media: the reader of port %d was busy %.0f%% of the time (%s above %.0f%%: add --media-ports)%s", st.ReaderPort, st.ReaderBusy*100, level, limit*100, cost)
	}
	switch {
	case st.SlowFrames > overloadedSlow:
		return Overloaded, slow("overloaded", overloadedSlow)
	case st.ReaderBusy > overloadedReader:
		return Overloaded, reader("overloaded", overloadedReader)
	case st.SchedDelay > overloadedDelay:
		return Overloaded, fmt.Sprintf("scheduling: goroutines waited up to %s for a core (over %s)%s", st.SchedDelay.Round(time.Millisecond), overloadedDelay, cost)
	case st.SlowFrames > heavySlow:
		return Heavy, slow("heavy", heavySlow)
	case st.ReaderBusy > heavyReader:
		return Heavy, reader("heavy", heavyReader)
	case st.MachineIdle < heavyIdle:
		// Other processes' CPU, or the bot's own: the capacity takes
		// the machine's idle share into account; what harms the calls
		// held shows as the delays above.
		return Heavy, fmt.Sprintf("cpu: machine %.0f%% idle (below %.0f%%)%s", st.MachineIdle*100, heavyIdle*100, cost)
	case st.SchedDelay > heavyDelay:
		return Heavy, fmt.Sprintf("scheduling: goroutines waited up to %s for a core (over %s)%s", st.SchedDelay.Round(time.Millisecond), heavyDelay, cost)
	}
	return Normal, fmt.Sprintf("machine %.0f%% idle, scheduling delay %s%s", st.MachineIdle*100, st.SchedDelay.Round(time.Millisecond), cost)
}
