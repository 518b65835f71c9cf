package mediabot

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJudgeNamesTheResource(t *testing.T) {
	cases := []struct {
		st    LoadState
		level LoadLevel
		says  string
	}{
		{LoadState{MachineIdle: 0.6, SchedDelay: time.Millisecond}, LoadNormal, "60% idle"},
		{LoadState{MachineIdle: 0.3, SchedDelay: time.Millisecond}, LoadHeavy, "cpu: machine 30% idle (below 35%)"},
		{LoadState{MachineIdle: 0.05, Streams: 400, CPUPerStream: 2 * time.Millisecond}, LoadOverloaded, "cpu: machine 5% idle (below 20%); 400 streams at 2ms CPU/s each"},
		{LoadState{MachineIdle: 0.5, SchedDelay: 15 * time.Millisecond}, LoadHeavy, "scheduling: goroutines waited up to 15ms"},
		{LoadState{MachineIdle: 0.5, SchedDelay: 45 * time.Millisecond}, LoadOverloaded, "scheduling: goroutines waited up to 45ms for a core (over 20ms)"},
		{LoadState{MachineIdle: 0.5, SlowFrames: 0.003}, LoadHeavy, "delivery: 0.30% of frames over 40ms after arrival (heavy above 0.1%)"},
		{LoadState{MachineIdle: 0.5, SlowFrames: 0.02}, LoadOverloaded, "delivery: 2.00% of frames over 40ms after arrival (overloaded above 0.5%)"},
		{LoadState{MachineIdle: 0.6, ReaderBusy: 0.75, ReaderPort: 45000}, LoadHeavy, "media: the reader of port 45000 was busy 75% of the time (heavy above 65%: add --media-ports)"},
		{LoadState{MachineIdle: 0.6, ReaderBusy: 0.93, ReaderPort: 45001}, LoadOverloaded, "media: the reader of port 45001 was busy 93% of the time (overloaded above 80%"},
		{LoadState{MachineIdle: 0.6, ReaderBusy: 0.5, ReaderPort: 45000}, LoadNormal, "60% idle"},
	}
	for _, tc := range cases {
		level, reason := judge(tc.st)
		if level != tc.level || !strings.Contains(reason, tc.says) {
			t.Errorf("judge(%+v) = %s %q, want %s saying %q", tc.st, level, reason, tc.level, tc.says)
		}
	}
}

// The monitor's measurements are sane on this machine: idle share in [0, 1],
// this process's CPU time moving forward.
func TestLoadMonitorMeasures(t *testing.T) {
	b := &Bot{}
	m := &loadMonitor{bot: b}
	m.lastCPU, m.lastAt = processCPU(), time.Now()
	m.lastIdle, m.lastTotal = machineTimes()
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
func TestLoadLevelMustBeSustainedToRise(t *testing.T) {
	m := &loadMonitor{}
	var got []LoadLevel
	for _, raw := range []LoadLevel{LoadOverloaded, LoadOverloaded, LoadNormal, LoadOverloaded, LoadOverloaded, LoadOverloaded, LoadHeavy, LoadNormal} {
		got = append(got, m.settle(raw))
	}
	want := []LoadLevel{LoadNormal, LoadNormal, LoadNormal, LoadNormal, LoadNormal, LoadOverloaded, LoadHeavy, LoadNormal}
	if !slices.Equal(got, want) {
		t.Errorf("levels %v, want %v", got, want)
	}
}
