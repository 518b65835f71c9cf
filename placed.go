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

// ErrNotPlacing is returned by Join while the bot drains, or when it holds
// Config.MaxCalls calls already.
var ErrNotPlacing = errors.New("mediabot: not placing calls")

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
	body.CallbackURI = b.CallbackURI()
	p := &placement{ready: make(chan struct{})}
	cfg := b.cfg
	// No call id yet: Graph names the call in its reply. The blob's answer
	// is taken for as long as a lobby may hold the call, plus the window.
	sess, err := b.engine.NewSession(b.sessionConfig("", cfg.LobbyTimeout+cfg.AnswerWindow, p.call))
	if err != nil {
		return CallInfo{}, fmt.Errorf("mediabot: media session: %w", err)
	}
	blob, err := sess.Blob().Encode()
	if err != nil {
		_ = sess.Close()
		return CallInfo{}, fmt.Errorf("mediabot: media session: %w", err)
	}
	body.MediaConfig = signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob}

	b.mu.Lock()
	b.early.begin()
	b.mu.Unlock()
	start := time.Now()
	created, err := b.graph.CreateCall(ctx, tenant, body)
	if err != nil {
		b.mu.Lock()
		b.early.end("")
		b.mu.Unlock()
		p.resolve(nil)
		_ = sess.Close()
		result := "failed"
		if errors.Is(err, signaling.ErrGraph) {
			result = "refused"
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
	c.state.Store(&state)

	c.emit(event.Event{Type: event.CallPlaced, TenantID: tenant, Direction: "outgoing",
		MeetingInfo: body.MeetingInfo, Targets: targetJSON(body.Targets)})
	c.emit(event.Event{Type: event.CallState, State: state}) // Graph's notification of it is then a repeat
	b.mu.Lock()
	parked := b.early.end(created.ID)
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

// canPlace refuses a new call while draining, full or overloaded.
func (b *Bot) canPlace() error {
	switch {
	case b.draining.Load() || b.closed.Load():
		return fmt.Errorf("%w: the bot is draining", ErrNotPlacing)
	case b.cfg.MaxCalls > 0 && b.liveCount() >= b.cfg.MaxCalls:
		return fmt.Errorf("%w: %d live calls, the most this instance holds (--max-calls)", ErrNotPlacing, b.cfg.MaxCalls)
	}
	if st := b.admission(1); st.Level == LoadOverloaded {
		return fmt.Errorf("%w: overloaded: %s", ErrNotPlacing, st.Reason)
	}
	return nil
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
