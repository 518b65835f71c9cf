package load

import (
	"strings"
	"testing"
	"time"
)

func TestJudgeNamesTheResource(t *testing.T) {
	cases := []struct {
		st    State
		level Level
		says  string
	}{
		{State{MachineIdle: 0.6, SchedDelay: time.Millisecond}, Normal, "60% idle"},
		{State{MachineIdle: 0.3, SchedDelay: time.Millisecond}, Heavy, "cpu: machine 30% idle (below 35%)"},
		{State{MachineIdle: 0.05, Streams: 400, CPUPerStream: 2 * time.Millisecond}, Heavy, "cpu: machine 5% idle (below 35%); 400 streams at 2ms CPU/s each"},
		{State{MachineIdle: 0.5, SchedDelay: 15 * time.Millisecond}, Heavy, "scheduling: goroutines waited up to 15ms"},
		{State{MachineIdle: 0.5, SchedDelay: 45 * time.Millisecond}, Overloaded, "scheduling: goroutines waited up to 45ms for a core (over 20ms)"},
		{State{MachineIdle: 0.5, SlowFrames: 0.003}, Heavy, "delivery: 0.30% of frames over 40ms after arrival (heavy above 0.1%)"},
		{State{MachineIdle: 0.5, SlowFrames: 0.02}, Overloaded, "delivery: 2.00% of frames over 40ms after arrival (overloaded above 0.5%)"},
		{State{MachineIdle: 0.6, ReaderBusy: 0.75, ReaderPort: 45000}, Heavy, "media: the reader of port 45000 was busy 75% of the time (heavy above 65%: add --media-ports)"},
		{State{MachineIdle: 0.6, ReaderBusy: 0.93, ReaderPort: 45001}, Overloaded, "media: the reader of port 45001 was busy 93% of the time (overloaded above 80%"},
		{State{MachineIdle: 0.6, ReaderBusy: 0.5, ReaderPort: 45000}, Normal, "60% idle"},
	}
	for _, tc := range cases {
		level, reason := Judge(tc.st)
		if level != tc.level || !strings.Contains(reason, tc.says) {
			t.Errorf("Judge(%+v) = %s %q, want %s saying %q", tc.st, level, reason, tc.level, tc.says)
		}
	}
}
