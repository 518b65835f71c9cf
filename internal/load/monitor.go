package load

import (
	"runtime"
	"slices"
	"sync/atomic"
	"time"
)

const (
	interval = time.Second
	// probeInterval spaces the scheduling-delay probes: each is a wake-up
	// of an otherwise idle thread, which at light load costs the bot more
	// than the measurement is worth at 200 a second.
	probeInterval = 20 * time.Millisecond
	// sustained is how many intervals in a row a level must be measured
	// before the instance takes it on the way up: call set-up (DTLS
	// handshakes) makes short spikes that are no reason to refuse calls.
	// Going down is immediate.
	sustained = 3
)

// Source is what the monitor measures of the bot besides the machine and
// the process. Its methods are called from the monitor's goroutine.
type Source interface {
	// Streams is the number of audio streams being decoded.
	Streams() int
	// FrameDelays counts the frames delivered so far and, of them, those
	// delivered more than SlowFrame after their packet arrived.
	FrameDelays() (frames, slow uint64)
	// ReaderBusy is each media port's reader time so far, and MediaPorts
	// the ports, in the same order.
	ReaderBusy() []time.Duration
	MediaPorts() []int
	// Connecting is the calls whose media has not connected yet.
	Connecting() int
}

// Monitor measures the load once per second.
type Monitor struct {
	src                  Source
	maxDelay             atomic.Int64 // ns, worst probe lateness in this interval
	lastCPU              time.Duration
	lastIdle, lastTotal  uint64
	lastAt               time.Time
	lastFrames, lastSlow uint64
	lastBusy             []time.Duration  // per media port, as Source.ReaderBusy
	recent               [sustained]Level // the last measured levels, newest first
	capacity             *capacityModel
	lastStreams          int
}

// NewMonitor measures src, the machine and this process from now on.
func NewMonitor(src Source) *Monitor {
	m := &Monitor{src: src, lastCPU: processCPU(), lastAt: time.Now(), lastBusy: src.ReaderBusy(), capacity: newCapacityModel()}
	m.lastIdle, m.lastTotal = machineTimes()
	return m
}

// Starting is the state before the first measurement: normal, with the
// capacity the priors give this machine.
func (m *Monitor) Starting() State {
	s := sample{cpus: runtime.NumCPU(), ports: len(m.lastBusy)}
	return State{Reason: "starting", MachineIdle: 1, Capacity: m.capacity.learn(s)}
}

// Run measures until stop is closed, handing each sample to set.
func (m *Monitor) Run(stop <-chan struct{}, set func(State)) {
	go m.probe(stop)
	tick := time.NewTicker(interval)
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
func (m *Monitor) probe(stop <-chan struct{}) {
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

func (m *Monitor) sample() State {
	now, cpu, busy := time.Now(), processCPU(), m.src.ReaderBusy()
	wall := now.Sub(m.lastAt)
	idle, total := machineTimes()
	st := State{Streams: m.src.Streams(), SchedDelay: time.Duration(m.maxDelay.Swap(0)), MachineIdle: 1}
	if total > m.lastTotal {
		st.MachineIdle = float64(idle-m.lastIdle) / float64(total-m.lastTotal)
	}
	if st.Streams > 0 && wall > 0 {
		st.CPUPerStream = time.Duration(float64(cpu-m.lastCPU) / wall.Seconds() / float64(st.Streams))
	}
	frames, slow := m.src.FrameDelays()
	if frames > m.lastFrames {
		st.SlowFrames = float64(slow-m.lastSlow) / float64(frames-m.lastFrames)
	}
	if wall > 0 && len(busy) == len(m.lastBusy) {
		ports := m.src.MediaPorts()
		for i, b := range busy {
			if share := float64(b-m.lastBusy[i]) / float64(wall); share > st.ReaderBusy && i < len(ports) {
				st.ReaderBusy, st.ReaderPort = share, ports[i]
			}
		}
	}
	st.Level, st.Reason = Judge(st)
	measured := st.Level
	st.Level = m.settle(measured)
	s := sample{wall: wall, botCPU: cpu - m.lastCPU, cpus: runtime.NumCPU(), ports: len(busy),
		streams: st.Streams, prevStreams: m.lastStreams, connecting: m.src.Connecting(),
		readerBusy: st.ReaderBusy, distress: measured == Overloaded}
	if total > m.lastTotal {
		s.machineBusy = (1 - st.MachineIdle) * float64(s.cpus)
	}
	st.Capacity = m.capacity.learn(s)
	m.lastCPU, m.lastAt, m.lastIdle, m.lastTotal = cpu, now, idle, total
	m.lastFrames, m.lastSlow, m.lastBusy, m.lastStreams = frames, slow, busy, st.Streams
	return st
}

// settle takes a measured level and returns the level the instance takes:
// the lowest of the last `sustained` measurements.
func (m *Monitor) settle(measured Level) Level {
	copy(m.recent[1:], m.recent[:])
	m.recent[0] = measured
	return slices.Min(m.recent[:])
}
