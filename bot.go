package mediabot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/internal/fanout"
	"github.com/mediabot-dev/mediabot/internal/load"
	"github.com/mediabot-dev/mediabot/internal/metrics"
	"github.com/mediabot-dev/mediabot/internal/ops"
	"github.com/mediabot-dev/mediabot/internal/speech"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
	"github.com/mediabot-dev/mediabot/sink"
)

// ringFrames is each consumer's buffer per stream: 64 frames, 1.28 s.
const ringFrames = 64

// Bot is one mediabot instance: the webhook Graph notifies, the media engine
// and its calls, and the consumers and sinks frames and events go to. Its
// methods are safe for concurrent use.
type Bot struct {
	cfg            Config
	log            *slog.Logger
	httpClient     *http.Client
	policy         AnswerPolicy
	adminToken     string
	frameConsumers []any // audio.FrameConsumer, audio.PacketConsumer, or both
	eventConsumers []event.Consumer
	sinks          []sink.Sink
	loadFunc       func() LoadState // replaces the measurement (WithLoadFunc)

	auth    *signaling.Authenticator
	graph   *signaling.Client
	engine  *mediasession.Engine
	fanout  *fanout.Fanout
	speech  *speech.Detector
	metrics *metrics.Metrics
	calls   *call.Table

	draining  atomic.Bool
	stopping  atomic.Bool // shutdown has begun
	admitting sync.Mutex  // incoming calls are admitted one at a time
	refusals  *load.Refusals
	load      atomic.Pointer[LoadState]
	stop      chan struct{} // closed at shutdown: the load monitor and the speech ticker end
}

// New builds a bot from cfg: it checks the configuration, opens the media
// ports and takes the sinks, but makes no request to Graph until Graph
// calls. The bot owns the sinks it is given: it closes them, even when New
// fails.
func New(cfg Config, opts ...Option) (*Bot, error) {
	b := &Bot{cfg: cfg.withDefaults()}
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.refusals = load.NewRefusals(b.log)
	if b.httpClient == nil {
		b.httpClient = signaling.NewHTTPClient(10 * time.Second)
	}
	if b.policy == nil {
		b.policy = DefaultPolicy(b.cfg.MaxCalls)
	}
	if err := b.setup(); err != nil {
		_ = b.closeSinks()
		return nil, err
	}
	b.load.Store(&LoadState{Reason: "starting", MachineIdle: 1})
	b.stop = make(chan struct{})
	if b.loadFunc == nil {
		m := load.NewMonitor(loadSource{b})
		starting := m.Starting()
		b.load.Store(&starting)
		go m.Run(b.stop, b.setLoad)
	}
	go b.speech.Run(b.stop) // ends the stretches of who went quiet without a packet (DTX)
	return b, nil
}

// setup checks the configuration and the sinks and builds the bot's parts.
func (b *Bot) setup() error {
	cfg := b.cfg
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("mediabot: configuration: %w", err)
	}
	for _, s := range b.sinks {
		if r, ok := s.(interface{ SampleRate() int }); ok && r.SampleRate() != cfg.SampleRate {
			return fmt.Errorf("mediabot: sink %s writes %d Hz, the bot delivers %d Hz (Config.SampleRate)", s, r.SampleRate(), cfg.SampleRate)
		}
	}
	if err := b.setupGraph(); err != nil {
		return err
	}
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{
		Port: cfg.MediaPort, Ports: cfg.MediaPorts, BindIP: cfg.MediaBindIP, PublicIP: cfg.MediaPublicIP, ICELite: cfg.ICELite, Logger: b.log,
	})
	if err != nil {
		return fmt.Errorf("mediabot: media: %w", err)
	}
	b.engine = engine
	b.metrics = metrics.New(metricsSource{loadSource{b}})
	b.setupFanout()
	b.calls = call.NewTable(call.Deps{Bot: host{b}, Graph: b.graph, Engine: engine, Fanout: b.fanout,
		Metrics: b.metrics, Speech: b.speech, Log: b.log, Settings: call.Settings{
			CallbackURI:           b.CallbackURI(),
			AnswerURI:             func(id string) string { return cfg.PublicURL + "/media/sessions/" + id + "/answer" },
			AudioSections:         cfg.AudioSections,
			SampleRate:            cfg.SampleRate,
			SharingNotifications:  !cfg.NoSharingNotifications,
			DeltaRoster:           cfg.DeltaRoster,
			AnswerWindow:          cfg.AnswerWindow,
			PolicyRecordingWindow: cfg.PolicyRecordingWindow,
			MediaConnectTimeout:   cfg.MediaConnectTimeout,
			MediaIdleTimeout:      cfg.MediaIdleTimeout,
			LobbyTimeout:          cfg.LobbyTimeout,
			ParticipantCapacity:   cfg.ParticipantCapacity,
			HandoffURL:            cfg.HandoffURL,
			MaxCalls:              cfg.MaxCalls,
		}})
	return nil
}

// setupFanout gives every frame or packet consumer, sink, the mixer and the
// speech detector (who speaks, how loud: the status page) a drainer of its
// own. The first
// consumer's frames are timed. A stream is decoded only if one of them
// takes decoded frames of it.
func (b *Bot) setupFanout() {
	b.fanout = fanout.New(b.cfg.SampleRate, b.metrics.FrameDelay, load.SlowFrame)
	for i, c := range b.frameConsumers {
		b.fanout.Add(fanout.Feed(c), fmt.Sprintf("consumer-%d", i+1), fanout.TakeOf(c), ringFrames, 0)
	}
	for i, s := range b.sinks {
		b.fanout.Add(fanout.Feed(s), metrics.SinkName(s, i+1), fanout.TakeOf(s), ringFrames, 0)
		if r, ok := s.(sink.ErrorReporter); ok {
			r.ReportErrorsTo(b.sinkError)
		}
	}
	if b.cfg.Mix {
		b.fanout.AddMixer(ringFrames)
	}
	// Last: it neither receives mixed frames nor is timed, and it makes do
	// with packets when nobody decodes a stream.
	b.speech = speech.New(b.speechEdge)
	b.fanout.Add(b.speech, "speech", fanout.Either, ringFrames, 0)
	b.metrics.Consumers(b.fanout.Names())
	b.metrics.SinkDrops(b.sinks)
}

// speechEdge hands an edge of a stretch of speech to its call, which emits
// it as speech.started or speech.ended.
func (b *Bot) speechEdge(callID string, e speech.Edge) {
	if c := b.calls.Get(callID); c != nil {
		c.Speech(e.ParticipantID, e.Started, e.AtMs, e.DurationMs)
	}
}

func (b *Bot) setupGraph() error {
	cfg := b.cfg
	graphURL, tokenURL := cfg.GraphURL, cfg.TokenURL
	if graphURL == "" || tokenURL == "" {
		cloud, err := signaling.CloudByName(cfg.Cloud)
		if err != nil {
			return fmt.Errorf("mediabot: %w", err)
		}
		graphURL = cmp.Or(graphURL, cloud.GraphURL)
		tokenURL = cmp.Or(tokenURL, cloud.LoginURL+"/{tenant}/oauth2/v2.0/token")
	}
	ccfg := signaling.ClientConfig{
		GraphURL: graphURL, TokenURL: tokenURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		DefaultTenant: cfg.TenantID, HTTPClient: b.httpClient, TokenFailed: b.tokenFailed,
	}
	if cfg.ClientCertificateFile != "" {
		cert, key, err := signaling.LoadCertificate(cfg.ClientCertificateFile, cfg.ClientKeyFile)
		if err != nil {
			return fmt.Errorf("mediabot: certificate credential (--client-certificate, --client-key): %w", err)
		}
		ccfg.Certificate, ccfg.PrivateKey = cert, key
	}
	client, err := signaling.NewClient(ccfg)
	if err != nil {
		return fmt.Errorf("mediabot: %w", err)
	}
	b.graph = client
	if cfg.InsecureSkipInboundAuth {
		b.log.Warn("inbound notifications are NOT authenticated (--insecure-skip-inbound-auth)")
		return nil
	}
	openID := cfg.InboundOpenIDURL
	if openID == "" && cfg.InboundJWKSURL == "" {
		openID = signaling.GraphOpenIDURL
	}
	auth, err := signaling.NewAuthenticator(signaling.AuthConfig{
		JWKSURL: cfg.InboundJWKSURL, OpenIDURL: openID, Issuers: cfg.InboundIssuers,
		Audience: cfg.ClientID, HTTPClient: b.httpClient,
	})
	if err != nil {
		return fmt.Errorf("mediabot: %w", err)
	}
	b.auth = auth
	return nil
}

// tokenFailed counts and logs a failed access-token fetch. Graph is only
// called once the bot is set up: its metrics exist by then.
func (b *Bot) tokenFailed(tenant string, stillValid bool, err error) {
	b.metrics.TokenFetchFailed(stillValid)
	if stillValid {
		b.log.Warn("could not get a new access token; the one held still serves", "tenant", tenant, "err", err)
		return
	}
	b.log.Error("could not get an access token: Graph requests fail until the token endpoint answers", "tenant", tenant, "err", err)
}

// Handler serves what Graph, the media processor and a load balancer
// reach: the webhook (/api/calls...), the media answer endpoint
// (/media/sessions/{id}/answer), /healthz and /readyz; anything else is
// 404. Mount it at the root of the server whose address PublicURL names,
// or under PublicURL's path prefix with http.StripPrefix. The README's
// "HTTP routes" section is its contract.
func (b *Bot) Handler() http.Handler {
	r := chi.NewRouter()
	webhook := signaling.NewWebhook(signaling.WebhookConfig{Auth: b.auth, Handle: b.calls.Dispatch,
		Respond: b.joiningResponse, Redirect: b.handoff, Refused: b.metrics.NotificationRefused, Logger: b.log})
	r.Method(http.MethodPost, "/api/calls", webhook)
	r.Method(http.MethodPost, "/api/calls/*", webhook)
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", b.engine.AnswerHandler())
	ops.Probes(r, b.Ready)
	return r
}

// CallbackURI is the callbackUri this instance gives Graph in its answers.
func (b *Bot) CallbackURI() string {
	return b.cfg.PublicURL + "/api/calls/" + url.PathEscape(b.cfg.InstanceID)
}

// MediaPorts are the bound UDP media ports.
func (b *Bot) MediaPorts() []int { return b.engine.MediaPorts() }

// Run keeps the bot's live calls alive until ctx ends, then drains: no new
// call is answered, live calls may finish for up to DrainTimeout, the rest
// are hung up, and the sinks are flushed and closed.
func (b *Bot) Run(ctx context.Context) error {
	tick := time.NewTicker(b.cfg.KeepAliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.calls.KeepAlive()
		case <-ctx.Done():
			return b.shutdown(b.cfg.DrainTimeout)
		}
	}
}

// Close ends every call at once (no drain) and releases the bot.
func (b *Bot) Close() error { return b.shutdown(0) }

// shutdown drains the bot and releases everything it holds.
func (b *Bot) shutdown(drain time.Duration) error {
	if b.stopping.Swap(true) {
		return nil
	}
	b.draining.Store(true) // new calls are rejected busy (or handed off)
	deadline := time.Now().Add(drain)
	for b.calls.Live() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	b.calls.Close("bot shutting down")
	b.refusals.Close()
	close(b.stop)
	err := b.engine.Close()
	b.fanout.Close()
	return errors.Join(err, b.closeSinks())
}

func (b *Bot) closeSinks() error {
	var errs []error
	for _, s := range b.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

// publish stamps e with the wall time and hands it to the event consumers
// and, for call.Everyone, to the sinks. It is the one way events reach
// them: a call's through its own emit and recording gate, the bot's own
// (load.state, sink.error) directly.
func (b *Bot) publish(e event.Event, to call.Audience) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if to == call.Everyone {
		for _, s := range b.sinks {
			s.Event(e)
		}
	}
	for _, c := range b.eventConsumers {
		c.Event(e)
	}
}

// sinkError publishes a sink's failure and counts it.
func (b *Bot) sinkError(e event.Event) {
	b.metrics.SinkError(e.Sink)
	b.publish(e, call.Everyone)
}
