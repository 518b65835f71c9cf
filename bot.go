package mediabot

import (
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

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
	"github.com/mediabot-dev/mediabot/sink"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

// tombstoneTTL is how long an ended call's id is remembered, so that a late
// notification cannot revive it.
const tombstoneTTL = 10 * time.Minute

// Bot is one mediabot instance: the webhook Graph notifies, the media engine
// and its calls, and the consumers and sinks frames and events go to.
type Bot struct {
	cfg            Config
	log            *slog.Logger
	httpClient     *http.Client
	policy         AnswerPolicy
	frameConsumers []audio.FrameConsumer
	eventConsumers []event.Consumer
	sinks          []sink.Sink

	// drainers feed each frame consumer and sink from every stream's
	// ring, one goroutine per consumer.
	drainers     []*audio.Drainer
	drainerNames []string   // the consumer each drainer feeds, for metrics
	drainerRings []ringSpec // each stream's ring for that consumer
	// mixer, with Config.Mix, sums each call's streams; it is fed by the
	// last drainer and feeds the others through mixRings.
	mixer *audio.Mixer
	// levels follows each participant's speech level for the status page.
	levels *levelMeter

	auth    *signaling.Authenticator
	graph   *signaling.Client
	engine  *mediasession.Engine
	handler http.Handler

	mu       sync.Mutex
	calls    map[string]*call
	ended    map[string]endedCall
	early    earlyNotifications // for calls being placed, not yet created
	draining atomic.Bool
	stopping atomic.Bool // shutdown has begun
	closed   atomic.Bool // no call is created any more (set under mu)
	workers  sync.WaitGroup

	metrics *metrics

	streams  atomic.Int64 // audio streams being decoded
	delays   frameDelays  // frames delivered, and the slow ones
	load     atomic.Pointer[LoadState]
	loadFunc func() LoadState // replaces the measurement (WithLoadFunc)
	stopLoad chan struct{}
}

// New builds a bot from cfg: it checks the configuration, opens the media
// port, the file sink and the NATS sink (connected, stream ensured), but
// makes no request to Graph until Graph calls.
func New(cfg Config, opts ...Option) (*Bot, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mediabot: configuration: %w", err)
	}
	b := &Bot{cfg: cfg, calls: map[string]*call{}, ended: map[string]endedCall{}}
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.httpClient == nil {
		b.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if b.policy == nil {
		b.policy = DefaultPolicy(cfg.MaxCalls, ParseTargets(cfg.RedirectTargets, cfg.TenantID)...)
	}
	if err := b.setupGraph(); err != nil {
		return nil, err
	}
	if cfg.OutDir != "" {
		fs, err := sink.NewFileSink(cfg.OutDir, cfg.SampleRate, b.Event, b.log)
		if err != nil {
			return nil, fmt.Errorf("mediabot: file sink: %w", err)
		}
		b.sinks = append(b.sinks, fs)
		if cfg.RetentionDays > 0 {
			// After the append: its failures go to b.Event, which reads b.sinks.
			fs.StartRetention(time.Duration(cfg.RetentionDays)*24*time.Hour, 0)
		}
	}
	if cfg.NATSURL != "" {
		ns, err := nats.New(nats.Config{
			URL: cfg.NATSURL, Stream: cfg.NATSStream, InstanceID: cfg.InstanceID, SampleRate: cfg.SampleRate,
			OnError: b.Event, Logger: b.log,
		})
		if err != nil {
			b.closeSinks()
			return nil, fmt.Errorf("mediabot: %w", err)
		}
		b.sinks = append(b.sinks, ns)
	}
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{
		Port: cfg.MediaPort, Ports: cfg.MediaPorts, BindIP: cfg.MediaBindIP, PublicIP: cfg.MediaPublicIP, ICELite: cfg.ICELite, Logger: b.log,
	})
	if err != nil {
		b.closeSinks()
		return nil, fmt.Errorf("mediabot: media: %w", err)
	}
	b.engine = engine
	b.metrics = newMetrics(b)
	for i, c := range b.frameConsumers {
		b.addDrainer(c, fmt.Sprintf("consumer-%d", i+1), ringSpec{frames: ringFrames})
	}
	for _, s := range b.sinks {
		b.addDrainer(s, s.String(), ringSpec{frames: ringFrames})
	}
	if cfg.Mix {
		b.setupMixer()
	}
	b.setupLevels()
	b.handler = b.routes()
	b.load.Store(&LoadState{Reason: "starting", MachineIdle: 1}) // not measured yet
	b.stopLoad = make(chan struct{})
	if b.loadFunc == nil {
		go (&loadMonitor{bot: b}).run(b.stopLoad, b.setLoad)
	}
	return b, nil
}

func (b *Bot) setupGraph() error {
	cfg := b.cfg
	graphURL, tokenURL := cfg.GraphURL, cfg.TokenURL
	if graphURL == "" || tokenURL == "" {
		cloud, err := signaling.CloudByName(cfg.Cloud)
		if err != nil {
			return fmt.Errorf("mediabot: %w", err)
		}
		if graphURL == "" {
			graphURL = cloud.GraphURL
		}
		if tokenURL == "" {
			tokenURL = cloud.LoginURL + "/{tenant}/oauth2/v2.0/token"
		}
	}
	ccfg := signaling.ClientConfig{
		GraphURL: graphURL, TokenURL: tokenURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		DefaultTenant: cfg.TenantID, HTTPClient: b.httpClient,
	}
	if cfg.ClientCertificateFile != "" || cfg.ClientKeyFile != "" {
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

// Handler serves the bot's HTTP surface (CONTRACT §2): the webhook, the
// media answer endpoint and the health probes. Mount it at the root of the
// server whose address PublicURL names, or under PublicURL's path prefix
// with http.StripPrefix.
func (b *Bot) Handler() http.Handler { return b.handler }

func (b *Bot) routes() http.Handler {
	r := chi.NewRouter()
	webhook := signaling.NewWebhook(signaling.WebhookConfig{Auth: b.auth, Handle: b.dispatch, Respond: b.joiningResponse, Redirect: b.handoff, Logger: b.log})
	r.Method(http.MethodPost, "/api/calls", webhook)
	r.Method(http.MethodPost, "/api/calls/*", webhook)
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", b.engine.AnswerHandler())
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/readyz", b.serveReady)
	r.Method(http.MethodGet, "/metrics", b.metrics.handler())
	r.Get("/status", b.serveStatus)
	r.Get("/status.json", b.serveStatusJSON)
	r.Route("/v1/calls", b.operatorRoutes)
	return r
}

func (b *Bot) serveReady(w http.ResponseWriter, _ *http.Request) {
	if b.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	if st := b.admission(); st.Level == LoadOverloaded {
		http.Error(w, "overloaded: "+st.Reason, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// currentLoad is the latest load state (asked of the WithLoadFunc function
// when there is one).
func (b *Bot) currentLoad() LoadState {
	if b.loadFunc != nil {
		b.setLoad(b.loadFunc())
	}
	return *b.load.Load()
}

// setLoad records a load state; a change of level is logged, counted and
// becomes a load.state event.
func (b *Bot) setLoad(st LoadState) {
	prev := b.load.Swap(&st)
	b.metrics.loadLevel.Set(float64(st.Level))
	b.metrics.cpuPerStream.Set(st.CPUPerStream.Seconds())
	if prev != nil && prev.Level == st.Level {
		return
	}
	b.log.Info("load state", "state", st.Level.String(), "reason", st.Reason)
	b.Event(event.Event{Type: event.LoadState, State: st.Level.String(), Reason: st.Reason})
}

// activeStreams is the number of audio streams being decoded.
func (b *Bot) activeStreams() int { return int(b.streams.Load()) }

// mixRingFrames buffers the mixed frames of every call for one consumer.
const mixRingFrames = 1024

// setupMixer puts a mixer behind its own drainer: every stream feeds it a
// ring like any consumer, and its mixed frames reach the other consumers
// through rings of their own.
func (b *Bot) setupMixer() {
	outs := make([]*audio.Ring, len(b.drainers))
	for i, d := range b.drainers {
		outs[i] = audio.NewRingOf(mixRingFrames, b.cfg.SampleRate*audio.FrameMs/1000)
		d.Add(outs[i])
	}
	b.mixer = audio.NewMixer(b.cfg.SampleRate, 0, outs)
	b.addDrainer(b.mixer, "mixer", ringSpec{frames: ringFrames})
}

// ringFrames is each consumer's buffer per stream: 64 frames, 1.28 s.
const ringFrames = 64

// ringSpec is the ring a consumer gets per stream: frames slots, keeping one
// frame in every (all when 0).
type ringSpec struct{ frames, every int }

// ring makes one stream's ring to spec, for frames of samples.
func (s ringSpec) ring(samples int) *audio.Ring {
	return audio.NewRingOf(s.frames, samples).SampleEvery(s.every)
}

// addDrainer gives consumer c a drainer, and each stream a ring of frames
// for it. The first consumer's frames are also timed: the delay from a
// packet's arrival to its frame's delivery.
func (b *Bot) addDrainer(c audio.FrameConsumer, name string, spec ringSpec) {
	if len(b.drainers) == 0 {
		c = timedConsumer{c, b.metrics.frameDelay, &b.delays}
	}
	b.drainers = append(b.drainers, audio.NewDrainer(c, 0))
	b.drainerNames = append(b.drainerNames, name)
	b.drainerRings = append(b.drainerRings, spec)
}

// endMix emits the rest of a call's mix and waits until every consumer has
// it, so that the sinks can close the call.
func (b *Bot) endMix(callID string) {
	if b.mixer == nil {
		return
	}
	b.mixer.EndCall(callID)
	for _, d := range b.drainers {
		d.Sync()
	}
}

// activeSharing is the number of open content-sharing sessions.
func (b *Bot) activeSharing() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.calls {
		n += c.sharing.Active()
	}
	return n
}

// MediaPort is the (first) bound UDP media port.
func (b *Bot) MediaPort() int { return b.engine.MediaPort() }

// MediaPorts are the bound UDP media ports.
func (b *Bot) MediaPorts() []int { return b.engine.MediaPorts() }

// CallbackURI is the callbackUri this instance gives Graph in its answers.
func (b *Bot) CallbackURI() string {
	return b.cfg.PublicURL + "/api/calls/" + url.PathEscape(b.cfg.InstanceID)
}

// liveCalls is the calls held now; each is read under its own locks.
func (b *Bot) liveCalls() []*call {
	b.mu.Lock()
	defer b.mu.Unlock()
	live := make([]*call, 0, len(b.calls))
	for _, c := range b.calls {
		live = append(live, c)
	}
	return live
}

// LiveCalls returns the ids of the calls this instance holds.
func (b *Bot) LiveCalls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.calls))
	for id := range b.calls {
		ids = append(ids, id)
	}
	return ids
}

// CallInfo describes a call.
type CallInfo struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	State    string `json:"state"`
	// Direction is "incoming" (answered) or "outgoing" (placed by Join).
	Direction string `json:"direction"`
	// InLobby: a meeting's lobby holds the bot, waiting to be admitted.
	InLobby bool `json:"inLobby,omitempty"`
	// MediaStart is when the call's media connected (zero before): the
	// origin of its media clock.
	MediaStart time.Time `json:"mediaStart,omitzero"`
	// Ended: the call is over for this instance (ResultInfo says how, when
	// Graph said).
	Ended bool `json:"ended,omitempty"`
	// ResultInfo is how Graph said the call ended, once it has.
	ResultInfo *event.ResultInfo `json:"resultInfo,omitempty"`
	// EndReason is why the bot ended the call itself (lobby timeout, media
	// failure, hang-up by the operator, shutdown), if it did.
	EndReason string `json:"endReason,omitempty"`
}

// Calls describes the calls this instance holds.
func (b *Bot) Calls() []CallInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]CallInfo, 0, len(b.calls))
	for _, c := range b.calls {
		out = append(out, c.info())
	}
	return out
}

// Call describes a live call, or one that ended in the last ten minutes.
func (b *Bot) Call(callID string) (CallInfo, bool) {
	b.mu.Lock()
	c, gone := b.calls[callID], b.ended[callID]
	b.mu.Unlock()
	switch {
	case c != nil:
		return c.info(), true
	case gone.info.ID != "":
		return gone.info, true
	}
	return CallInfo{}, false
}

// Hangup ends a live call: Graph is asked to drop the bot's leg and the
// call ends here at once.
func (b *Bot) Hangup(ctx context.Context, callID string) error {
	b.mu.Lock()
	c := b.calls[callID]
	b.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %s", ErrUnknownCall, callID)
	}
	// The worker hangs up later: ctx's values go with it, not its end.
	c.enqueue(work{fn: func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		c.hangup(ctx, "hung up by the operator")
	}})
	return nil
}

// ErrUnknownCall is returned for a call id this instance does not hold.
var ErrUnknownCall = errors.New("mediabot: unknown call")

// Run keeps the bot's live calls alive until ctx ends, then drains: no new
// call is answered, live calls may finish for up to DrainTimeout, the rest
// are hung up, and the sinks are flushed and closed.
func (b *Bot) Run(ctx context.Context) error {
	tick := time.NewTicker(b.cfg.KeepAliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.keepAlive(ctx)
		case <-ctx.Done():
			return b.shutdown(b.cfg.DrainTimeout)
		}
	}
}

func (b *Bot) keepAlive(ctx context.Context) {
	for _, c := range b.liveCalls() {
		c.enqueue(work{fn: func() { c.keepAlive(ctx) }})
	}
}

// shutdown drains the bot and releases everything it holds.
func (b *Bot) shutdown(drain time.Duration) error {
	if b.stopping.Swap(true) {
		return nil
	}
	b.draining.Store(true) // new calls are rejected busy (or handed off)
	deadline := time.Now().Add(drain)
	for len(b.LiveCalls()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.mu.Lock()
	b.closed.Store(true)
	for _, c := range b.calls {
		c.enqueue(work{fn: func() { c.hangup(ctx, "bot shutting down") }})
	}
	b.mu.Unlock()
	b.workers.Wait()
	close(b.stopLoad)
	err := b.engine.Close()
	for _, d := range b.drainers {
		d.Close()
	}
	return errors.Join(err, b.closeSinks())
}

// Close ends every call at once (no drain) and releases the bot.
func (b *Bot) Close() error { return b.shutdown(0) }

func (b *Bot) closeSinks() error {
	var errs []error
	for _, s := range b.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

// Event stamps e with the wall time and hands it to every consumer and sink.
func (b *Bot) Event(e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Type == event.SinkError {
		b.metrics.sinkErrors.WithLabelValues(e.Sink).Inc()
	}
	for _, s := range b.sinks {
		s.Event(e)
	}
	b.eventToConsumers(e)
}

// eventToConsumers hands e to the in-process event consumers only.
func (b *Bot) eventToConsumers(e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	for _, c := range b.eventConsumers {
		c.Event(e)
	}
}
