package mediabot

import (
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/internal/load"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// LoadState is the instance's load with the measurements behind it, so that
// "overloaded" always says which resource and how far: Level and Reason,
// then Streams (being decoded), CPUPerStream (this process's CPU per
// second per stream), MachineIdle (idle share of all cores), SchedDelay
// (how long a ready goroutine waited for a core), SlowFrames (share of
// frames delivered over 40 ms after arrival) and ReaderBusy with
// ReaderPort (the busiest media port's reader's share of its core). The
// README's "Load state" paragraph gives the thresholds.
type LoadState = load.State

// LoadLevel says how loaded an instance is.
type LoadLevel = load.Level

// The load levels. Overloaded instances answer no new call.
const (
	LoadNormal     = load.Normal
	LoadHeavy      = load.Heavy
	LoadOverloaded = load.Overloaded
)

// currentLoad is the latest load state (asked of the WithLoadFunc function
// when there is one).
func (b *Bot) currentLoad() LoadState {
	if b.loadFunc != nil {
		b.setLoad(b.loadFunc())
	}
	return *b.load.Load()
}

// setLoad records a load state; a change of level is logged, counted and
// becomes a load.state event.
func (b *Bot) setLoad(st LoadState) {
	prev := b.load.Swap(&st)
	b.metrics.Load(int(st.Level), st.CPUPerStream, st.Capacity.Streams)
	if prev != nil && prev.Level == st.Level {
		return
	}
	b.log.Info("load state", "state", st.Level.String(), "reason", st.Reason)
	b.publish(event.Event{Type: event.LoadState, State: st.Level.String(), Reason: st.Reason}, call.Everyone)
}

// admission is the load state a new call is judged by: the measured one,
// or overloaded when the streams held, those of the calls still connecting
// and the new call's would pass the instance's capacity.
func (b *Bot) admission() LoadState {
	st := b.currentLoad()
	if b.loadFunc != nil {
		return st
	}
	connecting, withMedia := b.calls.Connecting()
	streams := b.fanout.Streams()
	perCall := float64(b.cfg.AudioSections)
	if withMedia > 0 && streams > 0 {
		perCall = float64(streams) / float64(withMedia)
	}
	return load.Admit(st, load.Pending{Streams: streams, Connecting: connecting, StreamsPerCall: perCall})
}

// loadSource is what the load monitor measures of the bot.
type loadSource struct{ b *Bot }

func (s loadSource) Streams() int                       { return s.b.fanout.Streams() }
func (s loadSource) FrameDelays() (frames, slow uint64) { return s.b.fanout.FrameDelays() }
func (s loadSource) ReaderBusy() []time.Duration        { return s.b.engine.ReaderBusy() }
func (s loadSource) MediaPorts() []int                  { return s.b.engine.MediaPorts() }
func (s loadSource) Connecting() int {
	connecting, _ := s.b.calls.Connecting()
	return connecting
}

// metricsSource is what the Prometheus gauges read of the bot.
type metricsSource struct{ loadSource }

func (s metricsSource) LiveCalls() int                    { return s.b.calls.Live() }
func (s metricsSource) Accepting() bool                   { return s.b.canPlace() == nil }
func (s metricsSource) PortStats() mediasession.PortStats { return s.b.engine.PortStats() }

func (s metricsSource) CallStates() []string {
	held := s.b.calls.Held()
	states := make([]string, len(held))
	for i, c := range held {
		states[i] = c.State()
	}
	return states
}

func (s metricsSource) SharingSessions() int {
	n := 0
	for _, c := range s.b.calls.Held() {
		n += c.SharingActive()
	}
	return n
}
