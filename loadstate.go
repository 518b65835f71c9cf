package mediabot

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// LoadLevel says how loaded an instance is.
type LoadLevel int

// The load levels. Overloaded instances answer no new call.
const (
	LoadNormal LoadLevel = iota
	LoadHeavy
	LoadOverloaded
)

func (l LoadLevel) String() string {
	switch l {
	case LoadHeavy:
		return "heavy"
	case LoadOverloaded:
		return "overloaded"
	}
	return "normal"
}

// LoadState is the instance's load with the measurements behind it, so that
// "overloaded" always says which resource and how far.
type LoadState struct {
	Level  LoadLevel
	Reason string
	// Streams is the number of audio streams being decoded.
	Streams int
	// CPUPerStream is this process's CPU time per second per stream.
	CPUPerStream time.Duration
	// MachineIdle is the share of all cores idle over the last interval;
	// another process may be using the rest.
	MachineIdle float64
	// SchedDelay is the worst lateness of a 5 ms timer over the interval:
	// how long a ready goroutine waited for a core.
	SchedDelay time.Duration
	// SlowFrames is the share of frames delivered more than 40 ms after
	// their packet arrived, over the interval: not yet late (60 ms), but
	// the first sign of it.
	SlowFrames float64
	// ReaderBusy is the share of the interval the busiest media port's
	// reader spent on packets, and ReaderPort that port: one reader uses one
	// core at most, so a port can be full while the machine is not.
	ReaderBusy float64
	ReaderPort int
}

// Load thresholds: below these idle shares, or above these scheduling
// delays, the instance is heavy or overloaded. Measured on the load ladder
// (bench/load): frames start arriving late (> 60 ms) when the machine is
// about 20 % idle, so overloaded sets in there, before they do; a decoding
// goroutine that waits 20 ms for a core has used a third of the window.
const (
	heavyIdle       = 0.35
	overloadedIdle  = 0.20
	heavyDelay      = 10 * time.Millisecond
	overloadedDelay = 20 * time.Millisecond
	heavySlow       = 0.001
	overloadedSlow  = 0.005
	slowFrame       = 40 * time.Millisecond
	// A reader past these shares of its core is near the point where packets
	// queue in the socket faster than it takes them (the rest of its core
	// goes to the socket reads themselves): on the load ladder with one port,
	// 85 % busy (700 streams) lost nothing, 90 % (800 streams) overflowed
	// the socket. Admission keeps a port under overloadedReader.
	heavyReader      = 0.65
	overloadedReader = 0.80
	loadInterval     = time.Second
	probeInterval    = 5 * time.Millisecond
	// sustained is how many intervals in a row a level must be measured
	// before the instance takes it on the way up: call set-up (DTLS
	// handshakes) makes short spikes that are no reason to refuse calls.
	// Going down is immediate.
	sustained = 3
)

// loadMonitor measures the load once per interval.
type loadMonitor struct {
	bot                  *Bot
	maxDelay             atomic.Int64 // ns, worst probe lateness in this interval
	lastCPU              time.Duration
	lastIdle, lastTotal  uint64
	lastAt               time.Time
	lastFrames, lastSlow uint64
	lastBusy             []time.Duration      // per media port, as Engine.ReaderBusy
	recent               [sustained]LoadLevel // the last measured levels, newest first
}

// run measures until stop is closed, reporting each sample to set.
func (m *loadMonitor) run(stop <-chan struct{}, set func(LoadState)) {
	go m.probe(stop)
	m.lastCPU, m.lastAt = processCPU(), time.Now()
	m.lastIdle, m.lastTotal = machineTimes()
	m.lastBusy = m.readerBusy()
	tick := time.NewTicker(loadInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			set(m.sample())
		}
	}
}

// probe keeps the worst lateness of a short timer: the scheduling delay.
func (m *loadMonitor) probe(stop <-chan struct{}) {
	t := time.NewTimer(probeInterval)
	defer t.Stop()
	want := time.Now().Add(probeInterval)
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if late := now.Sub(want).Nanoseconds(); late > m.maxDelay.Load() {
				m.maxDelay.Store(late)
			}
			want = time.Now().Add(probeInterval)
			t.Reset(probeInterval)
		}
	}
}

func (m *loadMonitor) sample() LoadState {
	now, cpu, busy := time.Now(), processCPU(), m.readerBusy()
	wall := now.Sub(m.lastAt)
	idle, total := machineTimes()
	st := LoadState{Streams: m.bot.activeStreams(), SchedDelay: time.Duration(m.maxDelay.Swap(0)), MachineIdle: 1}
	if total > m.lastTotal {
		st.MachineIdle = float64(idle-m.lastIdle) / float64(total-m.lastTotal)
	}
	if st.Streams > 0 && wall > 0 {
		st.CPUPerStream = time.Duration(float64(cpu-m.lastCPU) / wall.Seconds() / float64(st.Streams))
	}
	frames, slow := m.bot.delays.frames.Load(), m.bot.delays.slow.Load()
	if frames > m.lastFrames {
		st.SlowFrames = float64(slow-m.lastSlow) / float64(frames-m.lastFrames)
	}
	if wall > 0 && len(busy) == len(m.lastBusy) {
		for i, b := range busy {
			if share := float64(b-m.lastBusy[i]) / float64(wall); share > st.ReaderBusy {
				st.ReaderBusy, st.ReaderPort = share, m.bot.engine.MediaPorts()[i]
			}
		}
	}
	m.lastCPU, m.lastAt, m.lastIdle, m.lastTotal = cpu, now, idle, total
	m.lastFrames, m.lastSlow, m.lastBusy = frames, slow, busy
	st.Level, st.Reason = judge(st)
	st.Level = m.settle(st.Level)
	return st
}

// readerBusy is the media ports' reader times, none without an engine.
func (m *loadMonitor) readerBusy() []time.Duration {
	if m.bot.engine == nil {
		return nil
	}
	return m.bot.engine.ReaderBusy()
}

// settle takes a measured level and returns the level the instance takes:
// the lowest of the last `sustained` measurements.
func (m *loadMonitor) settle(measured LoadLevel) LoadLevel {
	copy(m.recent[1:], m.recent[:])
	m.recent[0] = measured
	return slices.Min(m.recent[:])
}

// judge names the level and the resource that set it.
func judge(st LoadState) (LoadLevel, string) {
	cost := ""
	if st.Streams > 0 {
		cost = fmt.Sprintf("; %d streams at %s CPU/s each", st.Streams, st.CPUPerStream.Round(10*time.Microsecond))
	}
	slow := func(level string, limit float64) string {
		return fmt.Sprintf("delivery: %.2f%% of frames over %s after arrival (%s above %.1f%%)%s", st.SlowFrames*100, slowFrame, level, limit*100, cost)
	}
	reader := func(level string, limit float64) string {
		return fmt.Sprintf("media: the reader of port %d was busy %.0f%% of the time (%s above %.0f%%: add --media-ports)%s", st.ReaderPort, st.ReaderBusy*100, level, limit*100, cost)
	}
	switch {
	case st.SlowFrames > overloadedSlow:
		return LoadOverloaded, slow("overloaded", overloadedSlow)
	case st.ReaderBusy > overloadedReader:
		return LoadOverloaded, reader("overloaded", overloadedReader)
	case st.MachineIdle < overloadedIdle:
		return LoadOverloaded, fmt.Sprintf("cpu: machine %.0f%% idle (below %.0f%%)%s", st.MachineIdle*100, overloadedIdle*100, cost)
	case st.SchedDelay > overloadedDelay:
		return LoadOverloaded, fmt.Sprintf("scheduling: goroutines waited up to %s for a core (over %s)%s", st.SchedDelay.Round(time.Millisecond), overloadedDelay, cost)
	case st.SlowFrames > heavySlow:
		return LoadHeavy, slow("heavy", heavySlow)
	case st.ReaderBusy > heavyReader:
		return LoadHeavy, reader("heavy", heavyReader)
	case st.MachineIdle < heavyIdle:
		return LoadHeavy, fmt.Sprintf("cpu: machine %.0f%% idle (below %.0f%%)%s", st.MachineIdle*100, heavyIdle*100, cost)
	case st.SchedDelay > heavyDelay:
		return LoadHeavy, fmt.Sprintf("scheduling: goroutines waited up to %s for a core (over %s)%s", st.SchedDelay.Round(time.Millisecond), heavyDelay, cost)
	}
	return LoadNormal, fmt.Sprintf("machine %.0f%% idle, scheduling delay %s%s", st.MachineIdle*100, st.SchedDelay.Round(time.Millisecond), cost)
}

// processCPU is this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineTimes reads the idle and total jiffies of all cores from
// /proc/stat (0, 0 where there is none: the machine then looks idle).
func machineTimes() (idle, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, s := range fields[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		if i == 7 || i == 8 { // guest time is already in user time
			continue
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}
