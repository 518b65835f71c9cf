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

// WithPolicy replaces the answer policy (default:
// DefaultPolicy(Config.MaxCalls)).
func WithPolicy(p AnswerPolicy) Option { return func(b *Bot) { b.policy = p } }

// WithFrameConsumer adds an in-process consumer of every decoded frame. It
// is fed on a goroutine of its own, every 10 ms, from a ring per stream:
// Frame is never called concurrently with itself, and must neither block
// nor keep f or f.PCM after it returns (see audio.Frame).
func WithFrameConsumer(c audio.FrameConsumer) Option {
	return func(b *Bot) { b.frameConsumers = append(b.frameConsumers, c) }
}

// WithPacketConsumer adds an in-process consumer of every stream's packets
// as received, not decoded: Opus with the participant, identity and media
// time of each (audio.Frame with Payload set), for the codecs it
// WantsPackets of. It is fed like a frame consumer. A stream that only
// packet consumers take is not decoded at all.
func WithPacketConsumer(c audio.PacketConsumer) Option {
	return func(b *Bot) { b.frameConsumers = append(b.frameConsumers, c) }
}

// WithEventConsumer adds an in-process consumer of every event. Event may
// be called concurrently from the calls' workers and the media goroutines.
func WithEventConsumer(c event.Consumer) Option {
	return func(b *Bot) { b.eventConsumers = append(b.eventConsumers, c) }
}

// WithSink adds a sink of frames and events: a sink.FileSink (WAVs or Ogg
// Opus, events.jsonl and speakers.rttm per call), the NATS JetStream sink
// of sink/nats, or one of your own. It is fed like a frame consumer (and
// like a packet consumer, if it is an audio.PacketConsumer); the bot
// closes it. A sink
// that reports its failures (sink.ErrorReporter) has them published as
// sink.error events.
func WithSink(s sink.Sink) Option { return func(b *Bot) { b.sinks = append(b.sinks, s) } }

// WithAdminToken sets the bearer token of the operator API (/v1/calls on
// OpsHandler). Without one, that API answers only loopback clients of a
// loopback listener.
func WithAdminToken(token string) Option { return func(b *Bot) { b.adminToken = token } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Bot) { b.log = l } }

// WithLoadFunc replaces the measured load state with f, asked whenever the
// bot decides (an incoming call, /readyz): for tests, or for an embedder
// with an admission signal of its own.
func WithLoadFunc(f func() LoadState) Option { return func(b *Bot) { b.loadFunc = f } }

// WithHTTPClient sets the client for Graph and key requests.
func WithHTTPClient(c *http.Client) Option { return func(b *Bot) { b.httpClient = c } }
