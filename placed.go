package mediabot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// ErrNotPlacing is returned by Join while the bot drains, when it holds
// (or is placing) Config.MaxCalls calls already, or when it is overloaded.
var ErrNotPlacing = errors.New("mediabot: not placing calls")

// ErrNoReplyFromGraph is wrapped when Graph could not be reached or did not
// answer the request to place a call: Graph may have created the call all
// the same (the bot then hangs it up when its notifications come).
var ErrNoReplyFromGraph = errors.New("mediabot: no reply from Graph")

// Join asks Graph to place the call req names, with this instance's media
// (the same blob as an answer), and returns the call Graph created. From
// then on it is a call like an answered one: states, roster, media,
// content sharing, sinks. A meeting's lobby may hold the bot, for at most
// Config.LobbyTimeout (CallInfo.InLobby, call.lobby events). A malformed
// request fails with ErrBadJoinRequest before any request to Graph;
// Graph's refusal is a *signaling.APIError (errors.Is signaling.ErrGraph)
// carrying Graph's error body.
func (b *Bot) Join(ctx context.Context, req JoinRequest) (CallInfo, error) {
	body, tenant, err := req.createCall(b.cfg)
	if err != nil {
		return CallInfo{}, err
	}
	if err := b.canPlace(); err != nil {
		return CallInfo{}, err
	}
	b.mu.Lock()
	if b.fullLocked() { // again, with the count taken as it grows
		b.mu.Unlock()
		return CallInfo{}, b.errFull()
	}
	b.early.begin() // counted from here on by --max-calls and admission
	b.mu.Unlock()
	body.CallbackURI = b.CallbackURI()
	p := &placement{ready: make(chan struct{})}
	cfg := b.cfg
	// No call id yet: Graph names the call in its reply. The blob's answer
	// is taken for as long as a lobby may hold the call, plus the window.
	sess, err := b.engine.NewSession(b.sessionConfig("", cfg.LobbyTimeout+cfg.AnswerWindow, p.call))
	var blob string
	if err == nil {
		if blob, err = sess.Blob().Encode(); err != nil {
			_ = sess.Close()
		}
	}
	if err != nil {
		b.endPlacement(ctx, tenant, false)
		p.resolve(nil)
		return CallInfo{}, fmt.Errorf("mediabot: media session: %w", err)
	}
	body.MediaConfig = signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob}

	start := time.Now()
	created, err := b.graph.CreateCall(ctx, tenant, body)
	if err != nil {
		refused := errors.Is(err, signaling.ErrGraph)
		b.endPlacement(ctx, tenant, !refused)
		p.resolve(nil)
		_ = sess.Close()
		result := "failed"
		if refused {
			result = "refused"
		} else {
			err = fmt.Errorf("%w: %w", ErrNoReplyFromGraph, err)
		}
		b.metrics.callsPlaced.WithLabelValues(result).Inc()
		b.log.Warn("placing a call failed", "destination", describe(req), "err", err)
		return CallInfo{}, err
	}
	b.metrics.callsPlaced.WithLabelValues("created").Inc()
	c := newCall(b, created.ID, tenant, start, false)
	c.session, c.direction, c.myParticipantID = sess, "outgoing", created.MyParticipantID
	c.hasSession.Store(true)
	state := created.State
	if state == "" {
		state = "establishing"
	}
	c.emit(event.Event{Type: event.CallPlaced, TenantID: tenant, Direction: "outgoing",
		MeetingInfo: body.MeetingInfo, Targets: targetJSON(body.Targets)})
	c.setState(state, nil) // Graph's notification of it is then a repeat
	b.mu.Lock()
	parked, _, dropped := b.early.end(created.ID)
	b.metrics.notificationsIgnored.Add(float64(dropped))
	if b.closed.Load() {
		b.mu.Unlock()
		p.resolve(c)
		c.hangup(ctx, "bot shutting down")
		return CallInfo{}, fmt.Errorf("%w: the bot is shutting down", ErrNotPlacing)
	}
	b.startCall(c)
	for _, w := range parked {
		c.enqueue(w) // under b.mu: before any later notification of the call
	}
	b.mu.Unlock()
	p.resolve(c)
	c.log.Info("call placed", "destination", describe(req), "state", state, "took", time.Since(start).Round(time.Millisecond))
	return c.info(), nil
}

// endPlacement counts a placement done that created no call. Notifications
// of calls nobody placed are dropped; when Graph may have created the call
// without a reply reaching the bot (maybeCreated), those calls, if any, are
// hung up rather than left to wait for media that will never come.
func (b *Bot) endPlacement(ctx context.Context, tenant string, maybeCreated bool) {
	b.mu.Lock()
	_, orphans, dropped := b.early.end("")
	b.mu.Unlock()
	b.metrics.notificationsIgnored.Add(float64(dropped))
	if !maybeCreated {
		return
	}
	for _, id := range orphans {
		err := b.graph.Hangup(context.WithoutCancel(ctx), tenant, id)
		b.log.Warn("hung up a call Graph created for a placement whose reply was lost", "call", id, "err", err)
	}
}

// canPlace refuses a new call while draining, full or overloaded.
func (b *Bot) canPlace() error {
	switch {
	case b.draining.Load() || b.closed.Load():
		return fmt.Errorf("%w: the bot is draining", ErrNotPlacing)
	}
	b.mu.Lock()
	full := b.fullLocked()
	b.mu.Unlock()
	if full {
		return b.errFull()
	}
	if st := b.admission(); st.Level == LoadOverloaded {
		return fmt.Errorf("%w: overloaded: %s", ErrNotPlacing, st.Reason)
	}
	return nil
}

// fullLocked reports whether the calls held and being placed reach
// --max-calls; b.mu is held.
func (b *Bot) fullLocked() bool {
	return b.cfg.MaxCalls > 0 && len(b.calls)+b.early.placing >= b.cfg.MaxCalls
}

func (b *Bot) errFull() error {
	return fmt.Errorf("%w: %d calls live or being placed, the most this instance holds (--max-calls)", ErrNotPlacing, b.cfg.MaxCalls)
}

// placement hands a placed call to its media session's callbacks, which
// may fire (the media processor connecting) before Graph's reply is read.
type placement struct {
	ready chan struct{}
	c     *call // set before ready closes; nil when the placement failed
}

func (p *placement) resolve(c *call) {
	p.c = c
	close(p.ready)
}

// call waits for the placement's outcome.
func (p *placement) call() *call {
	<-p.ready
	return p.c
}

// describe names a join request's destination for logs.
func describe(r JoinRequest) string {
	switch {
	case r.JoinURL != "":
		return "meeting link"
	case r.JoinMeetingID != "":
		return "meeting " + r.JoinMeetingID
	case r.UserID != "":
		return "user " + r.UserID
	}
	return "phone " + r.Phone
}

// targetJSON is the targets of a placed call, for its call.placed event.
func targetJSON(t []signaling.InvitationParticipantInfo) json.RawMessage {
	if len(t) == 0 {
		return nil
	}
	raw, _ := json.Marshal(t)
	return raw
}
