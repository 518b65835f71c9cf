package call

import (
	"context"
	"fmt"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// onIncoming has the bot decide on the call inside the answer window,
// measured from the notification's arrival.
func (c *Call) onIncoming(gc signaling.Call) {
	s := c.t.deps.Settings
	window := s.AnswerWindow
	if c.gate != nil {
		window = s.PolicyRecordingWindow
	}
	c.emitIncoming(gc)
	ctx, cancel := context.WithDeadline(context.Background(), c.arrived.Add(window))
	defer cancel()
	c.t.deps.Bot.Decide(ctx, c, gc)
}

func (c *Call) emitIncoming(gc signaling.Call) {
	e := event.Event{Type: event.CallIncoming, TenantID: c.tenant, CallChainID: gc.CallChainID,
		MeetingInfo: gc.MeetingInfo, Direction: gc.Direction}
	if gc.Source != nil {
		if raw, err := gc.Source.MarshalJSON(); err == nil {
			e.Source = raw // kept as Graph sent it, encrypted or not
		}
		// Without one of the permissions that decrypt it, Graph sends the
		// caller encrypted: the call goes on, flagged.
		e.SourceEncrypted = gc.Source.Encrypted != ""
	}
	c.emit(e)
}

// Answer takes the incoming call with the bot's media: a media session
// whose blob goes in the answer. A failed answer ends the call.
func (c *Call) Answer(ctx context.Context) {
	s := c.t.deps.Settings
	sess, err := c.t.deps.Engine.NewSession(c.t.sessionConfig(c.id, s.AnswerWindow+s.MediaConnectTimeout, func() *Call { return c }))
	if err != nil {
		c.answerFailed(fmt.Errorf("media session: %w", err))
		return
	}
	c.session = sess
	c.hasSession.Store(true)
	blob, err := sess.Blob().Encode()
	if err != nil {
		c.answerFailed(err)
		return
	}
	c.answered(c.postAnswer(ctx, signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob}))
}

// AnswerServiceHosted takes the call with Graph's own media: no audio
// reaches the bot, only the call's notifications.
func (c *Call) AnswerServiceHosted(ctx context.Context, preFetch []signaling.MediaInfo) {
	c.answered(c.postAnswer(ctx, signaling.MediaConfig{ODataType: signaling.ODataServiceHostedMediaConfig, PreFetchMedia: preFetch}))
}

func (c *Call) answered(err error) {
	if err != nil {
		c.answerFailed(err)
		return
	}
	took := time.Since(c.arrived)
	c.t.deps.Metrics.Answered(took)
	c.log.Info("answered", "time_to_answer", took.Round(time.Millisecond))
}

func (c *Call) answerFailed(err error) {
	c.log.Error("answer failed", "err", err)
	c.leave("answer failed: " + err.Error())
}

// postAnswer POSTs the answer with this instance's callbackUri and options.
func (c *Call) postAnswer(ctx context.Context, media signaling.MediaConfig) error {
	s := c.t.deps.Settings
	capacity := 0
	if c.gate != nil {
		capacity = s.ParticipantCapacity
	}
	return c.t.deps.Graph.Answer(ctx, c.tenant, c.id, signaling.AnswerRequest{
		ParticipantCapacity: capacity,
		CallbackURI:         s.CallbackURI,
		AcceptedModalities:  []string{"audio"},
		CallOptions: &signaling.CallOptions{
			ODataType:                           signaling.ODataIncomingCallOptions,
			IsContentSharingNotificationEnabled: s.SharingNotifications,
			IsDeltaRosterEnabled:                s.DeltaRoster,
		},
		MediaConfig: media,
	})
}

// Reject declines the incoming call (reason busy, forbidden or none);
// Graph's deleted notification ends it.
func (c *Call) Reject(ctx context.Context, reason string) {
	if reason == "" {
		reason = "none"
	}
	if err := c.t.deps.Graph.Reject(ctx, c.tenant, c.id, signaling.RejectRequest{Reason: reason}); err != nil {
		c.log.Error("reject failed", "err", err)
	} else {
		c.log.Info("rejected", "reason", reason)
	}
	c.leave("rejected: " + reason)
}

// Redirect sends the incoming call on to targets; Graph's deleted
// notification ends it for this bot.
func (c *Call) Redirect(ctx context.Context, targets []signaling.InvitationParticipantInfo) {
	err := c.t.deps.Graph.Redirect(ctx, c.tenant, c.id, signaling.RedirectRequest{Targets: targets, CallbackURI: c.t.deps.Settings.CallbackURI})
	if err != nil {
		c.log.Error("redirect failed", "err", err)
	} else {
		c.log.Info("redirected", "targets", len(targets))
	}
	c.leave("redirected")
}
