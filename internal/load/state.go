package load

import "time"

// Level says how loaded an instance is.
type Level int

// The load levels. Overloaded instances answer no new call.
const (
	Normal Level = iota
	Heavy
	Overloaded
)

func (l Level) String() string {
	switch l {
	case Heavy:
		return "heavy"
	case Overloaded:
		return "overloaded"
	}
	return "normal"
}

// State is an instance's load with the measurements behind it, so that
// "overloaded" always says which resource and how far.
type State struct {
	Level  Level
	Reason string
	// Streams is the number of audio streams being decoded.
	Streams int
	// CPUPerStream is this process's CPU time per second per stream.
	CPUPerStream time.Duration
	// MachineIdle is the share of all cores idle over the last interval;
	// another process may be using the rest.
	MachineIdle float64
	// SchedDelay is the worst lateness of a 20 ms timer over the interval:
	// how long a ready goroutine waited for a core.
	SchedDelay time.Duration
	// SlowFrames is the share of frames delivered more than SlowFrame
	// after their packet arrived, over the interval: not yet late (60 ms),
	// but the first sign of it.
	SlowFrames float64
	// ReaderBusy is the share of the interval the busiest media port's
	// reader spent on packets, and ReaderPort that port: one reader uses one
	// core at most, so a port can be full while the machine is not.
	ReaderBusy float64
	ReaderPort int
	// Capacity is the streams this instance can hold, and why.
	Capacity Capacity
}
