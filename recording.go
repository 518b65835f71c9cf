package mediabot

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// holdSeconds bounds the audio a policy-recording call keeps in memory per
// stream while Graph has not confirmed recording.
const holdSeconds = 10

// maxHeldEvents bounds the events kept back likewise.
const maxHeldEvents = 1000

// isPolicyRecording recognises Graph's policy-based recording invitation
// (the seed's Example 3): an incomingContext naming the observed
// participant, or botData in the application metadata.
func isPolicyRecording(gc signaling.Call) bool {
	return gc.IncomingContext != nil || bytes.Contains(gc.ApplicationMetadata, []byte(`"botData"`))
}

// recordingGate keeps a policy-recording call's events back until Graph has
// confirmed "recording" (its frames wait in each stream's hold): a
// compliance recorder persists nothing before that.
type recordingGate struct {
	mu        sync.Mutex
	open      bool
	held      []event.Event
	dropped   int
	confirmed chan struct{}
}

func newRecordingGate() *recordingGate { return &recordingGate{confirmed: make(chan struct{})} }

// isOpen reports whether recording was confirmed. Streams ask it per frame.
func (g *recordingGate) isOpen() bool {
	select {
	case <-g.confirmed:
		return true
	default:
		return false
	}
}

// keep holds e while the gate is closed; it reports false once it is open.
func (g *recordingGate) keep(e event.Event) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return false
	}
	if len(g.held) < maxHeldEvents {
		g.held = append(g.held, e)
	} else {
		g.dropped++
	}
	return true
}

// openGate opens the gate and returns the events kept back, in order.
func (g *recordingGate) openGate() []event.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return nil
	}
	g.open = true
	close(g.confirmed)
	held := g.held
	g.held = nil
	return held
}

// discard drops what is held (the call ends unconfirmed) and says how much.
func (g *recordingGate) discard() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.held) + g.dropped
	g.held, g.dropped = nil, 0
	return n
}

// startRecording tells Graph the bot records, once media flows; Graph's
// success opens the gate. A refusal fails the recording: the bot leaves.
func (c *call) startRecording() {
	if c.ended.Load() || c.gate == nil || c.gate.isOpen() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := c.bot.graph.UpdateRecordingStatus(ctx, c.tenant, c.id, signaling.RecordingStatusRecording, c.id)
	switch {
	case err != nil:
		c.log.Error("updateRecordingStatus recording refused: nothing of this call is kept", "err", err)
		c.recordingStatus(signaling.RecordingStatusFailed)
		c.hangup(ctx, "recording refused")
	case op != nil && (op.Status == "notStarted" || op.Status == "running"):
		c.recordingOp = op.ID // confirmed by the operation's notification
	default:
		c.confirmRecording()
	}
}

// confirmRecording opens the gate: held events go out, and each stream
// releases its held frames with its next one.
func (c *call) confirmRecording() {
	for _, e := range c.gate.openGate() {
		c.bot.Event(e)
	}
	c.recordingStatus(signaling.RecordingStatusRecording)
}

// recordingStatus emits recording.status. "recording" goes everywhere; any
// other status of an unconfirmed call reaches only the in-process event
// consumers (and the log), since no sink may keep anything of it.
func (c *call) recordingStatus(status string) {
	e := event.Event{Type: event.RecordingStatus, CallID: c.id, MediaTimeMs: c.mediaNow(), Status: status}
	if c.gate.isOpen() {
		c.bot.Event(e)
		return
	}
	c.bot.eventToConsumers(e)
}

// operationDone handles a commsOperation's completion notification.
func (c *call) operationDone(op *signaling.CommsOperation) {
	if op.ID == "" || op.ID != c.recordingOp {
		return
	}
	switch op.Status {
	case "completed":
		c.confirmRecording()
	case "failed":
		c.log.Error("recording operation failed: nothing of this call is kept")
		c.recordingStatus(signaling.RecordingStatusFailed)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.hangup(ctx, "recording failed")
	}
}
