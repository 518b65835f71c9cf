package call

import (
	"context"
	"errors"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/monotime"
	"github.com/mediabot-dev/mediabot/signaling"
)

// ClosingBound is how long a call the bot left waits for Graph's
// terminated (and its resultInfo) before it ends with the bot's own
// reason.
const ClosingBound = 10 * time.Second

// MediaLossGrace is how long an established call whose media leg closed
// or went silent waits for Graph's terminating or terminated before the
// loss counts as media.failed: at a call's normal end the media processor
// may close DTLS a moment before Graph's notification arrives.
const MediaLossGrace = 2 * time.Second

// Hangup asks the call's worker to leave the call: Graph is asked to drop
// the bot's leg, and the call ends once Graph says so (or ClosingBound
// after). why is the call's end reason.
func (c *Call) Hangup(why string) {
	c.enqueue(work{fn: func() { c.hangup(why) }})
}

// hangup leaves the call with a DELETE of the bot's leg.
func (c *Call) hangup(why string) {
	if c.phase.Load() != live {
		return
	}
	// Graph first, then the media: the media processor learns of the end
	// from Graph rather than from a session that vanished. Graph's
	// terminated may come before its answer to the DELETE does.
	c.endReason.Store(&why)
	c.phase.Store(closing)
	var err error
	c.act(func(ctx context.Context) { err = c.t.deps.Graph.Hangup(ctx, c.tenant, c.id) },
		func() { c.hungUp(why, err) })
}

// hungUp takes Graph's answer to the DELETE of the bot's leg.
func (c *Call) hungUp(why string, err error) {
	if c.phase.Load() != closing {
		return // Graph's terminated came first
	}
	c.releaseMedia()
	switch {
	case errors.Is(err, signaling.ErrCallGone):
		c.log.Info("hung up: Graph no longer knew the call", "why", why)
		c.finish()
		return
	case err != nil:
		c.log.Warn("hang-up failed: the call ends here without Graph's word", "why", why, "err", err)
		c.finish()
		return
	}
	c.log.Info("hung up", "why", why)
	c.awaitGraph()
}

// leaving marks the call as ended by the bot for why, and releases its
// media: from here on it only waits for Graph's last word.
func (c *Call) leaving(why string) {
	c.endReason.Store(&why)
	c.phase.Store(closing)
	c.releaseMedia()
}

// awaitGraph waits, at most ClosingBound, for Graph's terminated.
func (c *Call) awaitGraph() {
	c.closeTimer = time.AfterFunc(ClosingBound, func() {
		c.enqueue(work{fn: func() {
			if c.phase.Load() == closing {
				c.log.Info("Graph did not confirm the call's end in time", "bound", ClosingBound)
				c.finish()
			}
		}})
	})
}

// leave ends the call from the bot's side without a DELETE (a reject, a
// redirect, a failed answer, Graph already terminating): Graph's deleted
// notification follows.
func (c *Call) leave(why string) {
	if c.phase.Load() != live {
		return
	}
	c.leaving(why)
	c.awaitGraph()
}

// mediaLost takes a closed or silent media leg. Before the call is
// established it is a failure at once; after, it waits MediaLossGrace for
// Graph to end the call.
func (c *Call) mediaLost(reason string) {
	if c.phase.Load() != live || c.lossTimer != nil {
		return
	}
	if !c.established() {
		c.mediaFailed(reason)
		return
	}
	c.log.Info("media lost: waiting for Graph's word", "reason", reason, "grace", MediaLossGrace)
	c.lossTimer = time.AfterFunc(MediaLossGrace, func() {
		c.enqueue(work{fn: func() { c.mediaLossConfirmed(reason) }})
	})
}

// mediaLossConfirmed acts on a media loss Graph did not explain in time.
func (c *Call) mediaLossConfirmed(reason string) {
	switch {
	case c.phase.Load() != live:
	case stateRank[c.State()] >= stateRank["terminating"]:
		c.leave(reason) // Graph is ending the call: its terminated follows
	default:
		c.mediaFailed(reason)
	}
}

// established reports whether the call is past establishing and not yet
// terminating (established, hold, transferring, ...).
func (c *Call) established() bool { return stateRank[c.State()] == stateRank["established"] }

// mediaFailed ends a call whose media never connected or broke: Graph is
// told to drop the bot's leg so no dead call lingers.
func (c *Call) mediaFailed(reason string) {
	if c.phase.Load() != live {
		return
	}
	c.log.Warn("media failed", "reason", reason)
	c.emit(event.Event{Type: event.MediaFailed, Reason: reason})
	c.hangup(reason)
}

// keepAlive tells Graph the call is still wanted; a call Graph no longer
// knows has ended.
func (c *Call) keepAlive() {
	var err error
	c.act(func(ctx context.Context) { err = c.t.deps.Graph.KeepAlive(ctx, c.tenant, c.id) }, func() { c.keptAlive(err) })
}

func (c *Call) keptAlive(err error) {
	switch {
	case c.phase.Load() != live:
	case errors.Is(err, signaling.ErrCallGone):
		c.log.Info("keepAlive: Graph no longer knows the call; ending it")
		c.finish()
	case err != nil:
		c.log.Warn("keepAlive failed", "err", err)
	}
}

// KeepAlive asks the call's worker to keep the call alive.
func (c *Call) KeepAlive() {
	c.enqueue(work{fn: c.keepAlive})
}

// Graph's terminated can overtake the last packets of a call, still in
// the socket or in flight: before the media session closes, the call
// waits until no packet came for mediaQuiet, mediaQuietMax at most.
const (
	mediaQuiet    = 60 * time.Millisecond
	mediaQuietMax = 500 * time.Millisecond
)

// quiesce waits for the call's media to go quiet, if it still flows: the
// last word of a call is kept.
func (c *Call) quiesce() {
	if c.mediaReleased || c.mediaStart.Load() == 0 {
		return
	}
	deadline := time.Now().Add(mediaQuietMax)
	last := c.packets.Load()
	for time.Now().Before(deadline) {
		time.Sleep(mediaQuiet)
		n := c.packets.Load()
		if n == last {
			return
		}
		last = n
	}
}

// releaseMedia ends the call's media once: sharing sessions close, the
// media session closes and its streams report their stats, the lobby
// timer stops.
func (c *Call) releaseMedia() {
	if c.mediaReleased {
		return
	}
	c.mediaReleased = true
	c.sharing.EndCall(c.MediaNow())
	if c.session != nil {
		_ = c.session.Close()
	}
	c.streams.Wait()
	if c.t.deps.Speech != nil {
		c.t.deps.Speech.EndCall(c.id, c.MediaNow())
	}
	c.lobby.stop()
	c.lobby.waiting.Store(false)
}

// finish ends the call once: its media is released, its last event is its
// call.state terminated (with Graph's resultInfo when Graph gave one, and
// the bot's reason when the bot ended the call), and the bot forgets it.
func (c *Call) finish() {
	if c.phase.Swap(ended) == ended {
		return
	}
	for _, t := range []*time.Timer{c.lossTimer, c.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.quiesce()
	c.releaseMedia()
	// The table remembers an ended call ten minutes: its record, not the
	// closed session with every stream's decoder and rings (about 100 KiB
	// a stream).
	c.session = nil
	if c.gate != nil {
		if n := c.gate.refuse(); n > 0 || !c.gate.isOpen() {
			c.log.Warn("call ended before Graph confirmed recording: its audio and events were not kept", "events_dropped", n)
		}
	}
	terminated := "terminated"
	c.state.Store(&terminated)
	c.emit(event.Event{Type: event.CallState, State: terminated, ResultInfo: c.result.Load(), Reason: c.EndReason()})
	c.endedAt.Store(monotime.Now())
	c.t.deps.Bot.CallEnded(c.id)
	c.t.forget(c)
	close(c.done)
}
