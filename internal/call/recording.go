package call

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// HoldSeconds bounds the audio a policy-recording call keeps in memory per
// stream while Graph has not confirmed recording.
const HoldSeconds = 10

// maxHeldEvents bounds the events kept back likewise.
const maxHeldEvents = 1000

// IsPolicyRecording recognises Graph's policy-based recording invitation
// (the seed's Example 3): an incomingContext naming the observed
// participant, or botData in the application metadata.
func IsPolicyRecording(gc signaling.Call) bool {
	return gc.IncomingContext != nil || bytes.Contains(gc.ApplicationMetadata, []byte(`"botData"`))
}

// recordingGate keeps a policy-recording call's events back until Graph has
// confirmed "recording" (its frames wait in each stream's hold): a
// compliance recorder persists nothing before that. Once refused, only the
// call's last words (recording.status failed, call.state terminated) reach
// anyone: the in-process consumers, and no sink.
type recordingGate struct {
	mu        sync.Mutex
	open      bool
	refused   bool
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

// route says where e may go: nowhere for now (held) while Graph has not
// confirmed recording, to everyone once it has; once recording was
// refused, the call's last words in-process only, the rest nowhere.
func (g *recordingGate) route(e event.Event) (to Audience, held bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.open:
		return Everyone, false
	case g.refused:
		last := e.Type == event.RecordingStatus || e.Type == event.CallState
		return InProcess, !last
	}
	if len(g.held) < maxHeldEvents {
		g.held = append(g.held, e)
	} else {
		g.dropped++
	}
	return Everyone, true
}

// openGate opens the gate and returns the events kept back, in order.
func (g *recordingGate) openGate() []event.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open || g.refused {
		return nil
	}
	g.open = true
	close(g.confirmed)
	held := g.held
	g.held = nil
	return held
}

// refuse drops what is held (recording was refused, or the call ends
// unconfirmed) and says how much; it does nothing to an open gate.
func (g *recordingGate) refuse() (dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open || g.refused {
		return 0
	}
	g.refused = true
	n := len(g.held) + g.dropped
	g.held, g.dropped = nil, 0
	return n
}

// holdFunc is the streams' gate: nil (no hold) unless this is a
// policy-recording call.
func (c *Call) holdFunc() func() bool {
	if c.gate == nil {
		return nil
	}
	return c.gate.isOpen
}

// startRecording tells Graph the bot records, once media flows; Graph's
// success opens the gate. A refusal fails the recording: the bot leaves.
// The call's notifications are handled while Graph answers.
func (c *Call) startRecording() {
	if c.phase.Load() != live || c.gate == nil || c.gate.isOpen() {
		return
	}
	var op *signaling.CommsOperation
	var err error
	c.act(func(ctx context.Context) {
		op, err = c.t.deps.Graph.UpdateRecordingStatus(ctx, c.tenant, c.id, signaling.RecordingStatusRecording, c.id)
	}, func() { c.recordingAnswered(op, err) })
}

// recordingAnswered takes Graph's answer to updateRecordingStatus.
func (c *Call) recordingAnswered(op *signaling.CommsOperation, err error) {
	if c.phase.Load() != live {
		return
	}
	switch {
	case err != nil:
		c.log.Error("updateRecordingStatus recording refused: nothing of this call is kept", "err", err)
		c.refuseRecording("recording refused")
	case op != nil && (op.Status == "notStarted" || op.Status == "running"):
		// Confirmed by the operation's notification, which may have come
		// already, while the reply was on its way.
		c.recordingOp = op.ID
		if done := c.ops.take(op.ID); done != nil {
			c.operationDone(done)
		}
	default:
		c.confirmRecording()
	}
}

// confirmRecording opens the gate: held events go out, and each stream
// releases its held frames with its next one.
func (c *Call) confirmRecording() {
	for _, e := range c.gate.openGate() {
		c.t.deps.Bot.Publish(e, Everyone)
	}
	c.emit(event.Event{Type: event.RecordingStatus, Status: signaling.RecordingStatusRecording})
}

// refuseRecording drops what the gate holds, says so to the in-process
// consumers only (no sink may keep anything of the call), and leaves.
func (c *Call) refuseRecording(why string) {
	c.gate.refuse()
	c.emit(event.Event{Type: event.RecordingStatus, Status: signaling.RecordingStatusFailed})
	c.hangup(why)
}

// operationDone handles a commsOperation's completion notification.
func (c *Call) operationDone(op *signaling.CommsOperation) {
	if op.ID == "" || op.ID != c.recordingOp {
		return
	}
	switch op.Status {
	case "completed":
		c.confirmRecording()
	case "failed":
		c.log.Error("recording operation failed: nothing of this call is kept")
		c.refuseRecording("recording failed")
	}
}

// graphTimeout bounds one Graph action of a call's worker.
const graphTimeout = 10 * time.Second
