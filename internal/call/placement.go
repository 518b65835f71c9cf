package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// The errors of Place; the bot's own errors wrap their meaning.
var (
	// ErrFull: the calls held and being placed reach Settings.MaxCalls.
	ErrFull = errors.New("call: full")
	// ErrClosed: the table makes no call any more (shutdown).
	ErrClosed = errors.New("call: shutting down")
	// ErrNoReply: Graph could not be reached or gave no usable reply; it
	// may have created the call all the same.
	ErrNoReply = errors.New("call: no reply from Graph")
)

// Place asks Graph to place a call (body, less its media config and
// callbackUri) for tenant, with a media session of the bot's, and returns
// the call once Graph created it. From then on it is a call like an
// answered one. what names the destination in logs. A refusal by Graph is
// its *signaling.APIError.
func (t *Table) Place(ctx context.Context, tenant string, body signaling.CreateCallRequest, what string) (*Call, error) {
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return nil, ErrClosed
	case t.fullLocked():
		t.mu.Unlock()
		return nil, ErrFull
	}
	t.early.begin() // counted from here on by MaxCalls and admission
	t.mu.Unlock()

	s := t.deps.Settings
	body.CallbackURI = s.CallbackURI
	p := &placement{ready: make(chan struct{})}
	// No call id yet: Graph names the call in its reply. The blob's answer
	// is taken for as long as a lobby may hold the call, plus the window.
	sess, err := t.deps.Engine.NewSession(t.sessionConfig("", s.LobbyTimeout+s.AnswerWindow, p.call))
	var blob string
	if err == nil {
		if blob, err = sess.Blob().Encode(); err != nil {
			_ = sess.Close()
		}
	}
	if err != nil {
		t.endPlacement(ctx, tenant, false)
		p.resolve(nil)
		return nil, fmt.Errorf("media session: %w", err)
	}
	body.MediaConfig = signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob}

	start := time.Now()
	created, err := t.deps.Graph.CreateCall(ctx, tenant, body)
	if err != nil {
		// Graph refused, or never saw the request (no token): no call
		// exists. Else Graph may have made it.
		sure := errors.Is(err, signaling.ErrGraph) || errors.Is(err, signaling.ErrToken)
		t.endPlacement(ctx, tenant, !sure)
		p.resolve(nil)
		_ = sess.Close()
		result := "refused"
		switch {
		case errors.Is(err, signaling.ErrToken):
			result = "failed"
		case !sure:
			result, err = "failed", fmt.Errorf("%w: %w", ErrNoReply, err)
		}
		t.deps.Metrics.CallPlaced(result)
		t.deps.Log.Warn("placing a call failed", "destination", what, "err", err)
		return nil, err
	}
	t.deps.Metrics.CallPlaced("created")
	c := newCall(t, created.ID, tenant, start, false)
	c.session, c.direction, c.myParticipantID = sess, "outgoing", created.MyParticipantID
	c.hasSession.Store(true)
	state := created.State
	if state == "" {
		state = "establishing"
	}
	c.emit(event.Event{Type: event.CallPlaced, TenantID: tenant, Direction: "outgoing",
		MeetingInfo: body.MeetingInfo, Targets: targetJSON(body.Targets)})
	c.setState(state, nil) // Graph's notification of it is then a repeat
	t.mu.Lock()
	parked, _, dropped := t.early.end(created.ID)
	t.deps.Metrics.NotificationsIgnored(dropped)
	if t.closed {
		t.mu.Unlock()
		p.resolve(c)
		c.leaving("bot shutting down")
		_ = t.deps.Graph.Hangup(context.WithoutCancel(ctx), tenant, c.id)
		c.finish()
		return nil, ErrClosed
	}
	t.startLocked(c)
	for _, w := range parked {
		c.enqueue(w) // under t.mu: before any later notification of the call
	}
	t.mu.Unlock()
	p.resolve(c)
	c.log.Info("call placed", "destination", what, "state", state, "took", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// endPlacement counts a placement done that created no call. Notifications
// of calls nobody placed are dropped; when Graph may have created the call
// without a reply reaching the bot (maybeCreated), those calls, if any, are
// hung up rather than left to wait for media that will never come.
func (t *Table) endPlacement(ctx context.Context, tenant string, maybeCreated bool) {
	t.mu.Lock()
	_, orphans, dropped := t.early.end("")
	t.mu.Unlock()
	t.deps.Metrics.NotificationsIgnored(dropped)
	if !maybeCreated {
		return
	}
	for _, id := range orphans {
		err := t.deps.Graph.Hangup(context.WithoutCancel(ctx), tenant, id)
		t.deps.Log.Warn("hung up a call Graph created for a placement whose reply was lost", "call", id, "err", err)
	}
}

// placement hands a placed call to its media session's callbacks, which
// may fire (the media processor connecting) before Graph's reply is read.
type placement struct {
	ready chan struct{}
	c     *Call // set before ready closes; nil when the placement failed
}

func (p *placement) resolve(c *Call) {
	p.c = c
	close(p.ready)
}

// call waits for the placement's outcome.
func (p *placement) call() *Call {
	<-p.ready
	return p.c
}

// targetJSON is the targets of a placed call, for its call.placed event.
func targetJSON(t []signaling.InvitationParticipantInfo) json.RawMessage {
	if len(t) == 0 {
		return nil
	}
	raw, _ := json.Marshal(t)
	return raw
}
