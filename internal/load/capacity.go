package load

import (
	"fmt"
	"math"
	"time"
)

// Capacity is how many audio streams this instance can hold on this
// machine, and the measurements behind the number: admission fills the
// instance up to it and no further.
//
// The bot's CPU grows with its streams, at a cost per stream measured
// while the streams are steady (call set-up, DTLS handshakes above all,
// costs more for a moment and says nothing of what a held stream costs).
// The cores left to the bot are the machine's cores under the overload
// margin (80 % busy), less what other processes use and the bot's own
// fixed costs; each media port's reader, which decodes its packets on one
// goroutine, can be kept under its own margin too.
type Capacity struct {
	// Streams is what admission fills up to: the lowest of CPUStreams,
	// ReaderStreams and, after distress, the ceiling it set.
	Streams int
	// CPUStreams is the streams BotCores hold at StreamCost each.
	CPUStreams int
	// ReaderStreams is the streams the media ports' readers hold under
	// their margin, at ReaderCost each.
	ReaderStreams int
	// StreamCost is the bot's CPU per second per stream, net of its fixed
	// costs; ReaderCost the share of a reader's time a stream takes.
	StreamCost time.Duration
	ReaderCost float64
	// BotCores is the cores left to the bot under the margin; OtherCores
	// what other processes use, FixedCores what the bot uses with no
	// stream.
	BotCores, OtherCores, FixedCores float64
	// Ceiling is the streams the instance held when it was last in
	// distress (late frames, a full reader, goroutines waiting for a
	// core) while its streams were steady, 0 when none binds: capacity
	// stays under it, and climbs back 1 % a second while all is well.
	Ceiling int
	// Measured says the costs come from this instance's streams; before,
	// they are priors from the load ladder (bench/load).
	Measured bool
}

// What the model starts from, before this instance has measured itself:
// 70 µs of CPU per 20 ms packet, all of it on the reader, above what the
// load ladder measures on a slow day (25–55 µs). The prior errs low on
// purpose: a first burst admitted short of the capacity is filled seconds
// later, once the streams held are measured, by the calls that come next
// and the redials; a burst admitted past it cannot be undone until those
// calls end.
const (
	priorStreamCost = 3500 * time.Microsecond
	priorReaderCost = 0.0035
)

// minMeasuredStreams is how many steady streams a cost measurement needs:
// with fewer, noise and the fixed costs weigh on each.
const minMeasuredStreams = 20

// How the model follows its measurements: costs and other processes'
// share move a third of the way to each steady measurement; the fixed
// costs a fifth of the way to each measurement with no stream.
const (
	costSmoothing  = 0.3
	fixedSmoothing = 0.2
	// ceilingMargin is how far under the streams held in distress the
	// ceiling is set; ceilingRecovery how much it climbs a steady second.
	ceilingMargin   = 0.95
	ceilingRecovery = 1.01
)

// sample is one second of measurements the model learns from.
type sample struct {
	wall                 time.Duration
	botCPU               time.Duration // this process's CPU time over wall
	machineBusy          float64       // cores busy over wall, all processes
	cpus, ports          int
	streams, prevStreams int
	connecting           int     // calls whose media has not connected yet
	readerBusy           float64 // the busiest reader's share of wall
	// distress says this second's own measurements (not yet held for
	// sustained seconds) are overloaded: the bot was starved, and what
	// it used says nothing of what its streams need.
	distress bool
}

// steady reports whether the sample measures held streams: enough of
// them, the same number as a second ago (within 5 %), and at most one
// call setting up beside every 20 of them.
func (s sample) steady() bool {
	moved := math.Abs(float64(s.streams - s.prevStreams))
	return s.streams >= minMeasuredStreams && moved <= 0.05*float64(s.streams) && s.connecting*20 <= s.streams
}

// capacityModel keeps the instance's capacity from its measurements.
type capacityModel struct {
	cap Capacity
}

func newCapacityModel() *capacityModel {
	return &capacityModel{cap: Capacity{StreamCost: priorStreamCost, ReaderCost: priorReaderCost}}
}

// learn takes one sample and returns the capacity it leaves.
func (m *capacityModel) learn(s sample) Capacity {
	c := &m.cap
	if s.wall > 0 {
		bot := s.botCPU.Seconds() / s.wall.Seconds()
		switch {
		case s.streams == 0 && s.connecting == 0:
			c.FixedCores += fixedSmoothing * (bot - c.FixedCores)
			c.OtherCores += costSmoothing * (max(s.machineBusy-bot, 0) - c.OtherCores)
		case s.steady() && s.distress:
			ceiling := int(ceilingMargin * float64(s.streams))
			if c.Ceiling == 0 || ceiling < c.Ceiling {
				c.Ceiling = ceiling
			}
		case s.steady():
			perStream := time.Duration(max(bot-c.FixedCores, 0) / float64(s.streams) * float64(time.Second))
			readerCost := s.readerBusy * float64(max(s.ports, 1)) / float64(s.streams)
			if !c.Measured {
				c.StreamCost, c.ReaderCost, c.Measured = perStream, readerCost, true
			} else {
				c.StreamCost += time.Duration(costSmoothing * float64(perStream-c.StreamCost))
				c.ReaderCost += costSmoothing * (readerCost - c.ReaderCost)
			}
			c.OtherCores += costSmoothing * (max(s.machineBusy-bot, 0) - c.OtherCores)
			if c.Ceiling > 0 {
				c.Ceiling = int(math.Ceil(ceilingRecovery * float64(c.Ceiling)))
			}
		}
	}
	c.BotCores = max((1-overloadedIdle)*float64(max(s.cpus, 1))-c.OtherCores-c.FixedCores, 0)
	c.CPUStreams = int(c.BotCores / max(c.StreamCost.Seconds(), 1e-6))
	c.ReaderStreams = int(overloadedReader * float64(max(s.ports, 1)) / max(c.ReaderCost, 1e-6))
	c.Streams = min(c.CPUStreams, c.ReaderStreams)
	if c.Ceiling > 0 {
		if c.Ceiling >= c.Streams {
			c.Ceiling = 0 // climbed back: the measurements bind again
		} else {
			c.Streams = c.Ceiling
		}
	}
	return *c
}

// String says what the capacity is and what sets it.
func (c Capacity) String() string {
	origin := "measured"
	if !c.Measured {
		origin = "prior"
	}
	s := fmt.Sprintf("capacity %d streams: cpu %.2f cores left to the bot (other processes %.2f, fixed %.2f) at %s CPU/s per stream (%s) hold %d; readers at %.2f%% per stream hold %d",
		c.Streams, c.BotCores, c.OtherCores, c.FixedCores, c.StreamCost.Round(10*time.Microsecond), origin, c.CPUStreams, c.ReaderCost*100, c.ReaderStreams)
	if c.Ceiling > 0 {
		s += fmt.Sprintf("; held under %d since the last distress", c.Ceiling)
	}
	return s
}
