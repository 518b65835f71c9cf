package mediabot

import (
	"log/slog"
	"net/http"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/sink"
)

// Option changes a Bot at construction.
type Option func(*Bot)

// WithPolicy replaces the answer policy (default: DefaultPolicy(MaxCalls)).
func WithPolicy(p AnswerPolicy) Option { return func(b *Bot) { b.policy = p } }

// WithFrameConsumer adds an in-process consumer of every decoded frame. It
// is called on the stream's goroutine; see audio.Frame for the ownership rule.
func WithFrameConsumer(c audio.FrameConsumer) Option {
	return func(b *Bot) { b.frameConsumers = append(b.frameConsumers, c) }
}

// WithEventConsumer adds an in-process consumer of every event.
func WithEventConsumer(c event.Consumer) Option {
	return func(b *Bot) { b.eventConsumers = append(b.eventConsumers, c) }
}

// WithSink adds a sink besides the file sink of Config.OutDir.
func WithSink(s sink.Sink) Option { return func(b *Bot) { b.sinks = append(b.sinks, s) } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Bot) { b.log = l } }

// WithLoadFunc replaces the measured load state with f, asked whenever the
// bot decides (an incoming call, /readyz): for tests, or for an embedder
// with an admission signal of its own.
func WithLoadFunc(f func() LoadState) Option { return func(b *Bot) { b.loadFunc = f } }

// WithHTTPClient sets the client for Graph and key requests.
func WithHTTPClient(c *http.Client) Option { return func(b *Bot) { b.httpClient = c } }
