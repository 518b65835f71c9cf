package call

import (
	"context"
	"log/slog"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/fanout"
	"github.com/mediabot-dev/mediabot/internal/metrics"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Bot is what a call needs of the bot that holds it.
type Bot interface {
	// Decide answers, rejects or redirects an incoming call before ctx's
	// deadline (the answer window), through c's Answer,
	// AnswerServiceHosted, Reject and Redirect.
	Decide(ctx context.Context, c *Call, gc signaling.Call)
	// Publish hands one of a call's events to the in-process event
	// consumers and, unless to is InProcess, to the sinks.
	Publish(e event.Event, to Audience)
	// CallEnded says a call's last event was published: the sinks may
	// close it.
	CallEnded(callID string)
}

// Audience is who an event of a call may reach.
type Audience int

const (
	// Everyone: the sinks and the in-process event consumers.
	Everyone Audience = iota
	// InProcess: the in-process event consumers only, for what no sink
	// may keep (a policy-recording call Graph never confirmed).
	InProcess
)

// Deps are the parts of the bot its calls use.
type Deps struct {
	Bot     Bot
	Graph   *signaling.Client
	Engine  *mediasession.Engine
	Fanout  *fanout.Fanout
	Metrics *metrics.Metrics
	// Speech closes a call's open stretches of speech when its streams
	// have delivered their last frames (nil: no speech detection).
	Speech   SpeechEnder
	Log      *slog.Logger
	Settings Settings
}

// SpeechEnder ends a call's stretches of speech at its media time atMs.
type SpeechEnder interface {
	EndCall(callID string, atMs int64)
}

// Settings are the bot's configuration as its calls see it.
type Settings struct {
	// CallbackURI is the callbackUri of every answer and placed call.
	CallbackURI string
	// AnswerURI is the blob's answerUri of media session id.
	AnswerURI     func(sessionID string) string
	AudioSections int
	SampleRate    int
	// SharingNotifications and DeltaRoster are asked of Graph in each
	// answer and placed call.
	SharingNotifications, DeltaRoster bool
	AnswerWindow                      time.Duration
	PolicyRecordingWindow             time.Duration
	MediaConnectTimeout               time.Duration
	MediaIdleTimeout                  time.Duration
	LobbyTimeout                      time.Duration
	ParticipantCapacity               int
	// HandoffURL receives the policy-group joins past
	// ParticipantCapacity, when set.
	HandoffURL string
	// MaxCalls bounds the calls held and being placed (0 = no limit).
	MaxCalls int
}
