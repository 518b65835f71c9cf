package graphsim

import (
	"context"
	"fmt"
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Offer is what the bot did with an incoming-call notification sent as is.
type Offer struct {
	// Answer is the bot's answer, when it answered.
	Answer *signaling.AnswerRequest
	// Rejected is the reject reason, when it rejected.
	Rejected string
	// Redirected are the redirect targets, when it redirected.
	Redirected []signaling.InvitationParticipantInfo
	// Latency is from the notification to the bot's action.
	Latency time.Duration
}

// OfferCall sends body, an incoming-call notification verbatim (Graph's
// documented examples, say), to url for call callID, and reports the
// bot's action within window. No media is played: it is for checking what
// the bot decides and sends. The call is forgotten afterwards, so that the
// bot's later requests about it get Graph's 404.
func (s *Sim) OfferCall(ctx context.Context, url, callID string, body []byte, window time.Duration) (*Offer, error) {
	c := &simCall{sim: s, sc: Scenario{CallID: callID}, state: "incoming",
		answerCh:   make(chan signaling.AnswerRequest, 1),
		rejectCh:   make(chan string, 1),
		redirectCh: make(chan []signaling.InvitationParticipantInfo, 1),
		byBot:      make(chan struct{}),
	}
	s.mu.Lock()
	if _, dup := s.calls[callID]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("graphsim: call %s is already playing", callID)
	}
	s.calls[callID] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, callID)
		s.mu.Unlock()
	}()
	start := time.Now()
	status, err := s.Notify(ctx, url, body)
	if err != nil {
		return nil, err
	}
	if status != 202 {
		return nil, fmt.Errorf("%w: HTTP %d", ErrRefused, status)
	}
	timer := time.NewTimer(window)
	defer timer.Stop()
	o := &Offer{}
	select {
	case req := <-c.answerCh:
		o.Answer = &req
	case o.Rejected = <-c.rejectCh:
	case o.Redirected = <-c.redirectCh:
	case <-timer.C:
		return nil, ErrNotAnswered
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	o.Latency = time.Since(start)
	return o, nil
}
