package mediabot

import (
	"fmt"
	"runtime"
	"time"
)

// Admission by measured cost: a new call is taken only if the machine keeps
// its overload margin once the call, and the calls still connecting, send
// their audio. The load monitor sees a call's cost only a second or more
// after its media flows, so a burst of calls would otherwise all be taken
// on the strength of a measurement made before any of them.

// priorStreamCost is the CPU a stream is taken to cost before enough
// streams were measured: about 50 µs per 20 ms packet, what the load
// ladder measures (bench/load).
const priorStreamCost = 2500 * time.Microsecond

// minMeasuredStreams is how many streams the measured cost per stream
// needs before it replaces the prior: with fewer, the process's fixed
// costs weigh on each.
const minMeasuredStreams = 20

// admission is the load state a new call is judged by: the measured one,
// overloaded when the projected load of the calls still connecting and of
// the new call would leave the machine under its overload margin, or fill
// the busiest media port's reader past its own.
func (b *Bot) admission() LoadState {
	st := b.currentLoad()
	if st.Level == LoadOverloaded || b.loadFunc != nil {
		return st
	}
	connecting, perCall := b.connectingCalls()
	streams := float64(connecting+1) * perCall // and the new call's
	measured := st.Streams >= minMeasuredStreams && st.CPUPerStream > 0
	cost := priorStreamCost
	if measured {
		cost = st.CPUPerStream
	}
	// Their set-up (ICE, DTLS) is already in the measured idle share.
	idle := st.MachineIdle - streams*cost.Seconds()/float64(runtime.NumCPU())
	if idle < overloadedIdle {
		st.Level = LoadOverloaded
		st.Reason = fmt.Sprintf("admission: the calls connecting would leave the machine %.0f%% idle (below %.0f%%): now %.0f%% idle, %d streams at %s CPU/s each, %d calls connecting, %.1f streams per call",
			max(idle, 0)*100, overloadedIdle*100, st.MachineIdle*100, st.Streams, cost.Round(10*time.Microsecond), connecting, perCall)
		return st
	}
	// Sessions take the ports in turn, so each port gets its share of the
	// new streams, each costing its reader what one costs the busiest now
	// (before that is measured: all of a stream's CPU). The streams started
	// since the measurement count too: the idle share above already paid for
	// their set-up, but the reader's busy share holds none of their packets.
	ports := float64(b.mediaPortCount())
	perStream := cost.Seconds()
	if measured && st.ReaderBusy > 0 {
		perStream = st.ReaderBusy * ports / float64(st.Streams)
	}
	streams += float64(max(b.activeStreams()-st.Streams, 0))
	reader := st.ReaderBusy + streams/ports*perStream
	if reader <= overloadedReader {
		return st
	}
	st.Level = LoadOverloaded
	st.Reason = fmt.Sprintf("admission: the calls connecting would keep the busiest media port's reader %.0f%% busy (above %.0f%%: add --media-ports): now %.0f%%, %d streams on %.0f ports, %d calls connecting, %.1f streams per call",
		reader*100, overloadedReader*100, st.ReaderBusy*100, st.Streams, ports, connecting, perCall)
	return st
}

// mediaPortCount is how many media ports share the sessions.
func (b *Bot) mediaPortCount() int {
	if b.engine == nil {
		return 1
	}
	return len(b.engine.MediaPorts())
}

// connectingCalls counts the calls being placed and the live calls with a
// media session whose media has not connected yet (not those being
// refused), and the streams a call
// brings: the mean of the calls with media, or the offer's audio sections
// before there is one.
func (b *Bot) connectingCalls() (connecting int, streamsPerCall float64) {
	b.mu.Lock()
	withMedia := 0
	connecting = b.early.placing // placements waiting for Graph's reply
	for _, c := range b.calls {
		switch {
		case c.mediaStart.Load() != 0:
			withMedia++
		case c.hasSession.Load() && !c.ended.Load():
			connecting++
		}
	}
	b.mu.Unlock()
	streamsPerCall = float64(b.cfg.AudioSections)
	if s := b.activeStreams(); withMedia > 0 && s > 0 {
		streamsPerCall = float64(s) / float64(withMedia)
	}
	return connecting, streamsPerCall
}
