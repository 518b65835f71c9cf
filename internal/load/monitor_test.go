package load

import (
	"slices"
	"testing"
	"time"
)

// idleSource is a bot with no streams and one idle media port.
type idleSource struct{}

func (idleSource) Streams() int                       { return 0 }
func (idleSource) FrameDelays() (frames, slow uint64) { return 0, 0 }
func (idleSource) ReaderBusy() []time.Duration        { return []time.Duration{0} }
func (idleSource) MediaPorts() []int                  { return []int{45000} }
func (idleSource) Connecting() int                    { return 0 }

// The monitor's measurements are sane on this machine: idle share in [0, 1],
// this process's CPU time moving forward, a reason given.
func TestMonitorMeasures(t *testing.T) {
	m := NewMonitor(idleSource{})
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU
	}
	time.Sleep(20 * time.Millisecond)
	st := m.sample()
	if st.MachineIdle < 0 || st.MachineIdle > 1 {
		t.Errorf("machine idle %v", st.MachineIdle)
	}
	if processCPU() <= 0 {
		t.Error("process CPU time not measured")
	}
	if st.Reason == "" {
		t.Error("no reason")
	}
}

// A level is taken on the way up only once it has been measured for
// `sustained` intervals in a row; on the way down at once.
func TestLevelMustBeSustainedToRise(t *testing.T) {
	m := &Monitor{}
	var got []Level
	for _, raw := range []Level{Overloaded, Overloaded, Normal, Overloaded, Overloaded, Overloaded, Heavy, Normal} {
		got = append(got, m.settle(raw))
	}
	want := []Level{Normal, Normal, Normal, Normal, Normal, Overloaded, Heavy, Normal}
	if !slices.Equal(got, want) {
		t.Errorf("levels %v, want %v", got, want)
	}
}
