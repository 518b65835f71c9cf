package load

import (
	"math"
	"testing"
	"time"
)

// second is a steady one-second sample of a bot on a 2-core machine with
// one media port: streams at cost CPU/s each over fixed cores, other
// processes using others cores, the reader busy readerCost per stream.
func second(streams int, cost time.Duration, fixed, others, readerCost float64) sample {
	bot := fixed + float64(streams)*cost.Seconds()
	return sample{wall: time.Second, botCPU: time.Duration(bot * float64(time.Second)), machineBusy: bot + others,
		cpus: 2, ports: 1, streams: streams, prevStreams: streams, readerBusy: float64(streams) * readerCost}
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

// Before any stream, the capacity is the priors' on this machine; the
// fixed costs and other processes are measured while there is none.
func TestCapacityStartsFromThePriors(t *testing.T) {
	m := newCapacityModel()
	c := m.learn(sample{cpus: 2, ports: 1})
	readerCost := float64(priorReaderCost) // a variable: the share is rounded down at run time
	if c.Measured || c.StreamCost != priorStreamCost || c.CPUStreams != int(1.6/priorStreamCost.Seconds()) || c.ReaderStreams != int(0.8/readerCost) {
		t.Errorf("prior capacity %+v", c)
	}
	for range 30 {
		c = m.learn(second(0, 0, 0.02, 0.3, 0))
	}
	if !near(c.FixedCores, 0.02, 0.05) || !near(c.OtherCores, 0.3, 0.05) || !near(c.BotCores, 1.6-0.32, 0.05) {
		t.Errorf("idle bot: fixed %.3f, other %.3f, bot %.3f cores; want 0.02, 0.3, 1.28", c.FixedCores, c.OtherCores, c.BotCores)
	}
}

// Steady streams replace the priors with their measured costs, net of the
// fixed costs: the CPU capacity is the cores left over the cost, the
// readers' their margin over theirs, and the lower binds.
func TestCapacityFollowsTheMeasuredCost(t *testing.T) {
	m := newCapacityModel()
	for range 10 {
		m.learn(second(0, 0, 0.02, 0.3, 0))
	}
	const cost, readerCost = 1500 * time.Microsecond, 0.0012
	var c Capacity
	for range 20 {
		c = m.learn(second(400, cost, 0.02, 0.3, readerCost))
	}
	wantCPU := (1.6 - 0.3 - 0.02) / cost.Seconds()
	if !c.Measured || !near(float64(c.StreamCost), float64(cost), 0.02) || !near(float64(c.CPUStreams), wantCPU, 0.03) {
		t.Errorf("measured %v per stream, %d CPU streams; want %v, %.0f", c.StreamCost, c.CPUStreams, cost, wantCPU)
	}
	if wantReader := 0.8 / readerCost; !near(float64(c.ReaderStreams), wantReader, 0.03) || c.Streams != min(c.CPUStreams, c.ReaderStreams) {
		t.Errorf("%d reader streams (want %.0f), capacity %d", c.ReaderStreams, wantReader, c.Streams)
	}
	// A second port halves each reader's share: the CPU binds.
	s := second(400, cost, 0.02, 0.3, readerCost/2)
	s.ports = 2
	for range 20 {
		c = m.learn(s)
	}
	if c.Streams != c.CPUStreams || c.ReaderStreams < c.CPUStreams {
		t.Errorf("two ports: capacity %d, CPU %d, readers %d: want the CPU to bind", c.Streams, c.CPUStreams, c.ReaderStreams)
	}
}

// A burst's set-up (its DTLS handshakes cost CPU for a moment, graphsim's
// too) teaches the model nothing: the streams moved, or calls were
// connecting.
func TestCapacityIgnoresSetUp(t *testing.T) {
	m := newCapacityModel()
	const cost = 1500 * time.Microsecond
	var before Capacity
	for range 10 {
		before = m.learn(second(200, cost, 0, 0.3, 0.001))
	}
	ramp := second(300, 4*cost, 0, 1.2, 0.003)
	ramp.prevStreams = 200
	connecting := second(300, 4*cost, 0, 1.2, 0.003)
	connecting.connecting = 40
	for _, s := range []sample{ramp, connecting} {
		if got := m.learn(s); got.Streams != before.Streams || got.StreamCost != before.StreamCost {
			t.Errorf("during set-up (%d→%d streams, %d connecting): capacity %d at %v, want it kept at %d at %v",
				s.prevStreams, s.streams, s.connecting, got.Streams, got.StreamCost, before.Streams, before.StreamCost)
		}
	}
}

// Distress while the streams are steady sets a ceiling under them; it
// climbs back a little each good second, and the measurements bind again
// once it is over them. Distress during set-up sets none.
func TestCapacityCeilingAfterDistress(t *testing.T) {
	m := newCapacityModel()
	const cost = 1500 * time.Microsecond
	var c Capacity
	for range 10 {
		c = m.learn(second(500, cost, 0, 0.3, 0.001))
	}
	free := c.Streams
	if free <= 500 {
		t.Fatalf("capacity %d, want over the 500 streams held", free)
	}
	s := second(500, cost, 0, 0.3, 0.001)
	s.distress = true
	c = m.learn(s)
	if c.Ceiling != 475 || c.Streams != 475 {
		t.Fatalf("after distress at 500 streams: capacity %d, ceiling %d; want 475", c.Streams, c.Ceiling)
	}
	for range 5 {
		c = m.learn(second(500, cost, 0, 0.3, 0.001))
	}
	if c.Streams <= 475 || c.Streams >= free {
		t.Errorf("5 good seconds later: capacity %d, want between 475 and %d", c.Streams, free)
	}
	for range 200 {
		c = m.learn(second(500, cost, 0, 0.3, 0.001))
	}
	if c.Ceiling != 0 || c.Streams != free {
		t.Errorf("long after: capacity %d (ceiling %d), want the measured %d", c.Streams, c.Ceiling, free)
	}
	burst := second(500, cost, 0, 0.3, 0.001)
	burst.distress, burst.connecting = true, 100
	if c = m.learn(burst); c.Ceiling != 0 {
		t.Errorf("distress during set-up set a ceiling of %d", c.Ceiling)
	}
}

// A starved bot uses less CPU per stream than its streams need: a steady
// second in distress teaches the model no cost, or the capacity would rise
// in the very second the streams held are too many.
func TestCapacityLearnsNoCostWhileInDistress(t *testing.T) {
	m := newCapacityModel()
	const cost = 2500 * time.Microsecond
	var c Capacity
	for range 10 {
		c = m.learn(second(400, cost, 0, 0.3, 0.002))
	}
	starved := second(500, cost/2, 0, 0.3, 0.001)
	starved.distress = true
	if after := m.learn(starved); after.StreamCost != c.StreamCost || after.ReaderCost != c.ReaderCost || after.Streams > c.Streams {
		t.Errorf("a starved second moved the costs %v → %v, %.4f → %.4f, capacity %d → %d",
			c.StreamCost, after.StreamCost, c.ReaderCost, after.ReaderCost, c.Streams, after.Streams)
	}
}
