// Package nats is mediabot's NATS JetStream sink: a sink.Sink that publishes
// every frame and event of a call to a JetStream stream, for consumers in any
// language or on other machines. The subjects, headers and message ids are
// those of the README's "Consuming audio: in-process, files, NATS" section.
//
// It is a package of its own so that an embedder who wants only the file
// sink (package sink) does not link the NATS client.
package nats

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/sink"
)

// The NATS subjects and headers, as the README's "Consuming audio:
// in-process, files, NATS" section documents them. Other languages consume
// them: they change only with a version bump.
const (
	// AudioSubjectPrefix starts every frame's subject:
	// mediabot.audio.{callId}.{participantId}.
	AudioSubjectPrefix = "mediabot.audio."
	// EventSubjectPrefix starts every event's subject:
	// mediabot.events.{callId}.
	EventSubjectPrefix = "mediabot.events."

	HeaderSampleRate   = "Mediabot-Sample-Rate"
	HeaderSeq          = "Mediabot-Seq"
	HeaderRTPTimestamp = "Mediabot-Rtp-Timestamp"
	HeaderMediaTime    = "Mediabot-Media-Time"
	HeaderConcealed    = "Mediabot-Concealed"
	HeaderInstance     = "Mediabot-Instance"
	// HeaderCallID and HeaderParticipantID carry the ids as Graph gives
	// them, unsanitised (the subject has them as tokens). A frame of a
	// stream no roster names has participant id ssrc-{n}, as its subject.
	HeaderCallID        = "Mediabot-Call-Id"
	HeaderParticipantID = "Mediabot-Participant-Id"
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = jetstream.MsgIDHeader
)

// The defaults of Config.
const (
	DefaultStream = "MEDIABOT"
	// DefaultMaxPending is the publish window: frames and events sent
	// and not yet acknowledged by the stream. 4096 frames are 1.6 s of
	// audio for 50 speakers.
	DefaultMaxPending = 4096
	// DefaultBacklog is how many frames and events wait locally when the
	// window is full (NATS slow or unreachable): 10 s of audio for 50
	// speakers, about 16 MB of PCM at 16 kHz (48 MB at 48 kHz).
	DefaultBacklog = 25_000
	// DefaultAckTimeout is how long a publish waits for its ack before
	// it is sent again.
	DefaultAckTimeout = 5 * time.Second
	// DefaultCloseTimeout bounds how long Close waits for acks.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultMaxAge is the retention of a stream the sink creates.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxBytes bounds the size of a stream the sink creates: 10 GiB.
	// A 16 kHz frame takes about 1.15 KB stored (640 bytes of PCM, the
	// subject and headers with GUID ids; TestNATSStreamDiscardsTheOldestAtItsByteLimit
	// logs it), 57 KB/s per participant speaking, so 10 GiB hold some 50
	// hours of speech (DTX silence costs nothing; 48 kHz about 24 hours):
	// two people talking without a pause for the whole 24 h max age, many
	// more real meetings, and still a bound a small disk survives.
	DefaultMaxBytes = 10 << 30

	// natsHold is how long frames of a stream no roster names are held,
	// waiting for the name, before they go out as ssrc-{n} (as the README's
	// "Consuming audio: in-process, files, NATS" section says).
	natsHold = 2 * time.Second
	// natsRetryWait is the pause after a failed publish before the next try.
	natsRetryWait = 100 * time.Millisecond
	// natsTick is how often held frames and retries are looked at when
	// nothing else wakes the publisher.
	natsTick = 50 * time.Millisecond
)

// ErrUnacked is returned by Close when messages were still waiting for
// their acks when its timeout ran out: they may be missing from the stream.
var ErrUnacked = errors.New("sink: nats messages left unacknowledged")

// Config configures a NATS sink. URL is required; zero values of the
// others take the defaults named in their comments.
type Config struct {
	// URL of the NATS server(s), comma-separated.
	URL string
	// Stream is the JetStream stream, created when missing (default MEDIABOT).
	Stream string
	// InstanceID is sent in the Mediabot-Instance header (default host name).
	InstanceID string
	// SampleRate is the rate of frames that do not say theirs (default 16000).
	SampleRate int
	// MaxPending is the publish window (default DefaultMaxPending).
	MaxPending int
	// Backlog bounds the frames and events waiting locally, held unnamed
	// frames included (default DefaultBacklog). Past it new ones are
	// dropped and counted.
	Backlog int
	// AckTimeout is how long a publish waits for its ack before it is sent
	// again (default DefaultAckTimeout).
	AckTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts (default 500 ms).
	ReconnectWait time.Duration
	// ReconnectBufSize is how many bytes nats.go buffers while reconnecting
	// (default 32 MiB).
	ReconnectBufSize int
	// MaxAge is the retention of a stream this sink creates (0: default
	// DefaultMaxAge; negative: no age limit). An existing stream's limits
	// are left as they are.
	MaxAge time.Duration
	// MaxBytes bounds the size of a stream this sink creates (0: default
	// DefaultMaxBytes; negative: no limit). At either limit JetStream
	// discards the oldest messages (DiscardOld).
	MaxBytes int64
	// CredsFile is a NATS credentials file (user JWT and nkey seed,
	// nats.UserCredentials) to authenticate with.
	CredsFile string
	// NkeyFile is a file holding an nkey user's seed (nats.NkeyOptionFromSeed)
	// to authenticate with; not together with CredsFile. Credentials in the
	// URL (user:password@, token@) work too.
	NkeyFile string
	// Duplicates is the de-duplication window of a stream this sink creates
	// (default 2 min): a resend within it is stored once.
	Duplicates time.Duration
	// CloseTimeout bounds how long Close waits for acks (default
	// DefaultCloseTimeout).
	CloseTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// now is the clock of the 2 s hold; tests replace it.
	now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.InstanceID == "" {
		c.InstanceID, _ = os.Hostname()
	}
	if c.SampleRate <= 0 {
		c.SampleRate = 16000
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Backlog <= 0 {
		c.Backlog = DefaultBacklog
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = 500 * time.Millisecond
	}
	if c.ReconnectBufSize <= 0 {
		c.ReconnectBufSize = 32 << 20
	}
	switch {
	case c.MaxAge == 0:
		c.MaxAge = DefaultMaxAge
	case c.MaxAge < 0:
		c.MaxAge = 0 // JetStream's "no limit"
	}
	switch {
	case c.MaxBytes == 0:
		c.MaxBytes = DefaultMaxBytes
	case c.MaxBytes < 0:
		c.MaxBytes = -1 // JetStream's "no limit"
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.MaxAge > 0 && c.Duplicates > c.MaxAge {
		c.Duplicates = c.MaxAge // JetStream refuses a longer window
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Sink publishes frames and events to a JetStream stream, as the README's
// "Consuming audio: in-process, files, NATS" section says: frames on
// mediabot.audio.{callId}.{participantId} with the Mediabot-* headers and
// Nats-Msg-Id {callId}/{participantId}/{seq}, events on
// mediabot.events.{callId} with Nats-Msg-Id {callId}/events/{n}; both carry
// the raw ids in Mediabot-Call-Id and Mediabot-Participant-Id.
//
// Subject tokens: a call or participant id is one subject token. Graph's ids
// (GUIDs) pass unchanged; in any other id '.', '*', '>' and whitespace
// become '_' (and an empty id "_"). The Nats-Msg-Id uses the same tokens,
// and Mediabot-Seq counts per subject.
//
// Frames of a stream that no roster names yet are held (per source id) up to
// 2 s; a name that arrives in time (a frame with a participant id, or a
// participant.joined/updated event with the sourceId) publishes them under
// it, in order and before the later frames; otherwise they go out as
// ssrc-{n}, and so do the source's later frames until a name arrives; from
// then on they go under the name (what went out as ssrc-{n} stays there).
//
// Publishing is asynchronous and never waits for NATS: at most MaxPending
// messages are unacknowledged; the rest wait in a local backlog of at most
// Backlog messages (held frames included). A publish that fails or whose ack
// times out (a NATS restart, a network cut) is sent again with the same
// Nats-Msg-Id, so the stream stores it once. Past the backlog bound new
// frames and events are dropped, counted (Dropped) and reported once per
// overflow as a sink.error event; the report re-arms when the backlog has
// emptied. A dropped message keeps its number: a dropped frame leaves a gap
// in its subject's Mediabot-Seq, a dropped event one in the event numbers,
// so that consumers see the loss. When the backlog has emptied, each live
// call that lost messages is told how many in a second sink.error (unless
// its call.state terminated has gone out: that stays the call's last
// event). Memory is bounded by Backlog+MaxPending messages.
//
// Sink is safe for concurrent use. Frame allocates (the PCM is copied into
// the message, which outlives the call).
type Sink struct {
	sink.Reporter
	cfg     Config
	nc      *natsgo.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	dropped atomic.Uint64

	wake chan struct{} // a publish may be possible
	stop chan struct{} // closed by Close: the publisher exits
	done chan struct{} // closed when the publisher has exited

	mu           sync.Mutex
	calls        map[string]*natsCall
	ended        map[string]struct{} // calls EndCall closed; one id per call
	queue        []*natsgo.Msg       // waiting to be published, oldest first
	retry        []*natsgo.Msg       // failed publishes, sent before queue
	held         int                 // frames held across all calls
	inflight     int                 // published, ack not yet seen
	backoffUntil time.Time           // no publish before (after a failure)
	dropReported bool                // this overflow has been reported
	failing      bool                // the last publish failed (logged once)
	closed       bool
}

var _ sink.ErrorReporter = (*Sink)(nil)

// natsCall is one call's naming and numbering state, guarded by Sink.mu.
type natsCall struct {
	id       string                  // the call id as Graph gives it
	token    string                  // the call id as a subject token
	subjects map[string]*natsSubject // by participant token
	names    map[uint32]string       // source id -> participant id (raw)
	expired  map[uint32]bool         // sources whose hold ran out: ssrc-{n}
	held     map[uint32]*natsHeld
	events   uint64 // the next event number
	eventSub string
	// lostFrames and lostEvents were dropped since the backlog last
	// emptied; terminated: its call.state terminated was queued.
	lostFrames, lostEvents uint64
	terminated             bool
}

// natsSubject is one audio subject and its next Mediabot-Seq.
type natsSubject struct {
	subject string
	idPre   string // "{callId}/{participantId}/"
	next    uint64
}

// natsHeld is the unnamed frames of one source, waiting for a name.
type natsHeld struct {
	since  time.Time
	frames []heldFrame // dropped ones included, as placeholders
	n      int         // frames not dropped: those counted in Sink.held
}

// heldFrame is a frame copied out of the producer's memory, or the place of
// one dropped while its source was unnamed (it takes its Mediabot-Seq).
type heldFrame struct {
	pcm       []byte // s16le
	rate      int
	rtp       uint32
	mediaMs   int64
	concealed bool
	dropped   bool
}

// New connects to cfg.URL, creates the stream when missing and starts
// publishing. It fails (at start-up, not mid-call) when the server cannot be
// reached or the stream cannot be created; once connected it reconnects
// forever.
func New(cfg Config) (*Sink, error) {
	if cfg.URL == "" {
		return nil, errors.New("nats sink: no URL")
	}
	cfg = cfg.withDefaults()
	s := &Sink{
		cfg:   cfg,
		log:   cfg.Logger,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		calls: make(map[string]*natsCall),
		ended: make(map[string]struct{}),
	}
	opts := []natsgo.Option{
		natsgo.Name("mediabot " + cfg.InstanceID),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(cfg.ReconnectWait),
		natsgo.ReconnectBufSize(cfg.ReconnectBufSize),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				s.log.Warn("nats sink: disconnected; reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			s.log.Info("nats sink: reconnected", "url", c.ConnectedUrlRedacted())
		}),
	}
	auth, err := authOptions(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := natsgo.Connect(cfg.URL, append(opts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("nats sink: connect %s: %w", redactURL(cfg.URL), err)
	}
	s.nc = nc
	s.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(s.acked),
		jetstream.WithPublishAsyncErrHandler(s.failed),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats sink: %w", err)
	}
	if err := s.ensureStream(); err != nil {
		nc.Close()
		return nil, err
	}
	go s.run()
	return s, nil
}

// authOptions are the credentials of cfg beyond those in the URL.
func authOptions(cfg Config) ([]natsgo.Option, error) {
	switch {
	case cfg.CredsFile != "" && cfg.NkeyFile != "":
		return nil, errors.New("nats sink: a credentials file and an nkey seed file: give one")
	case cfg.CredsFile != "":
		if _, err := os.Stat(cfg.CredsFile); err != nil {
			return nil, fmt.Errorf("nats sink: credentials file: %w", err)
		}
		return []natsgo.Option{natsgo.UserCredentials(cfg.CredsFile)}, nil
	case cfg.NkeyFile != "":
		o, err := natsgo.NkeyOptionFromSeed(cfg.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats sink: nkey seed file %s: %w", cfg.NkeyFile, err)
		}
		return []natsgo.Option{o}, nil
	}
	return nil, nil
}

// ensureStream creates the stream when it is missing; an existing stream is
// left as its operator configured it (its limits too), provided it takes our
// subjects.
func (s *Sink) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err == nil {
		for _, probe := range []string{AudioSubjectPrefix + "c.p", EventSubjectPrefix + "c"} {
			if !slices.ContainsFunc(st.CachedInfo().Config.Subjects, func(f string) bool { return subjectMatches(f, probe) }) {
				return fmt.Errorf("nats sink: stream %s exists but does not take %s* subjects (it has %v)",
					s.cfg.Stream, strings.TrimSuffix(probe, "c.p"), st.CachedInfo().Config.Subjects)
			}
		}
		if have := st.CachedInfo().Config; have.MaxAge != s.cfg.MaxAge || have.MaxBytes != s.cfg.MaxBytes {
			s.log.Info("nats sink: the stream exists; its limits are left as they are",
				"stream", s.cfg.Stream, "maxAge", have.MaxAge, "maxBytes", have.MaxBytes,
				"configuredMaxAge", s.cfg.MaxAge, "configuredMaxBytes", s.cfg.MaxBytes)
		}
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("nats sink: look up stream %s: %w", s.cfg.Stream, err)
	}
	_, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        s.cfg.Stream,
		Description: `mediabot audio frames and call events (README: "Consuming audio: in-process, files, NATS")`,
		Subjects:    []string{AudioSubjectPrefix + ">", EventSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.cfg.MaxAge,
		MaxBytes:    s.cfg.MaxBytes,
		Duplicates:  s.cfg.Duplicates,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("nats sink: create stream %s: %w", s.cfg.Stream, err)
	}
	return nil
}

// String prints the sink, e.g. "NATS(nats://127.0.0.1:4222 MEDIABOT)".
func (s *Sink) String() string {
	return "NATS(" + redactURL(s.cfg.URL) + " " + s.cfg.Stream + ")"
}

// Dropped is the number of frames and events dropped because the backlog
// was full.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Frame publishes f, or holds it while its stream is unnamed. It copies the
// PCM and never waits for NATS.
func (s *Sink) Frame(f *audio.Frame) {
	if f.CallID == "" {
		return
	}
	s.mu.Lock()
	c := s.call(f.CallID)
	if c == nil {
		s.mu.Unlock()
		return
	}
	src := f.SourceID()
	pid := f.ParticipantID
	if pid != "" {
		s.name(c, src, pid)
	} else if pid = c.names[src]; pid == "" && !c.expired[src] {
		if h := c.held[src]; h != nil && s.cfg.now().Sub(h.since) >= natsHold {
			s.expire(c, src)
		} else {
			report := s.hold(c, src, f)
			s.mu.Unlock()
			s.reportDrop(report)
			s.kick()
			return
		}
	}
	if pid == "" {
		pid = ssrcName(src)
	}
	var report natsDrop
	if s.full() {
		report = s.drop(c, true)
		s.publishFrame(c, pid, heldFrame{dropped: true}) // its number, not sent
	} else {
		s.publishFrame(c, pid, copyFrame(f, s.cfg.SampleRate))
	}
	s.mu.Unlock()
	s.reportDrop(report)
	s.kick()
}

// Event publishes e; a participant.joined/updated event that names a
// source releases its held frames under the name. Events without a call id
// are ignored.
func (s *Sink) Event(e event.Event) {
	if e.CallID == "" {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		s.log.Error("nats sink: encode event", "callId", e.CallID, "err", err)
		return
	}
	s.mu.Lock()
	c := s.call(e.CallID)
	if c == nil {
		s.mu.Unlock()
		return
	}
	if (e.Type == event.ParticipantJoined || e.Type == event.ParticipantUpdated) &&
		e.ParticipantID != "" && e.SourceID != "" {
		if src, err := strconv.ParseUint(e.SourceID, 10, 32); err == nil {
			s.name(c, uint32(src), e.ParticipantID)
		}
	}
	if e.Type == event.CallState && e.State == "terminated" {
		c.terminated = true
	}
	n := c.events // a dropped event keeps its number: a gap shows the loss
	c.events++
	var report natsDrop
	if s.full() {
		report = s.drop(c, false)
	} else {
		h := natsgo.Header{
			HeaderInstance: {s.cfg.InstanceID},
			HeaderCallID:   {e.CallID},
			HeaderMsgID:    {c.token + "/events/" + strconv.FormatUint(n, 10)},
		}
		if e.ParticipantID != "" {
			h[HeaderParticipantID] = []string{e.ParticipantID}
		}
		s.enqueue(&natsgo.Msg{Subject: c.eventSub, Data: data, Header: h})
	}
	s.mu.Unlock()
	s.reportDrop(report)
	s.kick()
}

// EndCall publishes the call's held frames (as ssrc-{n}) and forgets the
// call; later frames and events of it are ignored. It does not wait for
// NATS: Close does.
func (s *Sink) EndCall(callID string) {
	s.mu.Lock()
	if c := s.calls[callID]; c != nil {
		s.releaseAll(c)
		delete(s.calls, callID)
	}
	s.ended[callID] = struct{}{}
	s.mu.Unlock()
	s.kick()
}

// Close publishes the held frames, waits up to CloseTimeout for everything
// to be acknowledged, and closes the connection. It returns ErrUnacked
// when messages were left; a second Close returns sink.ErrSinkClosed.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sink.ErrSinkClosed
	}
	for id, c := range s.calls {
		s.releaseAll(c)
		s.ended[id] = struct{}{}
	}
	s.calls = make(map[string]*natsCall)
	s.closed = true
	s.mu.Unlock()
	s.kick()

	deadline := time.Now().Add(s.cfg.CloseTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	left := s.outstanding()
	for left > 0 && time.Now().Before(deadline) {
		<-tick.C
		left = s.outstanding()
	}
	close(s.stop)
	<-s.done
	s.nc.Close()
	if left > 0 {
		s.log.Error("nats sink: closed with messages unacknowledged", "messages", left)
		return fmt.Errorf("nats sink: %w: %d after %s", ErrUnacked, left, s.cfg.CloseTimeout)
	}
	return nil
}

// outstanding is the number of messages not yet acknowledged.
func (s *Sink) outstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + len(s.retry) + s.held + s.inflight
}

// kick wakes the publisher without waiting.
func (s *Sink) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the publisher: it moves messages from the backlog into the window
// and releases holds that ran out.
func (s *Sink) run() {
	defer close(s.done)
	tick := time.NewTicker(natsTick)
	defer tick.Stop()
	for {
		select {
		case <-s.wake:
		case <-tick.C:
			s.expireHolds()
		case <-s.stop:
			return
		}
		s.publish()
	}
}

// publish sends from retry, then queue, while the window has room.
func (s *Sink) publish() {
	for {
		s.mu.Lock()
		if s.inflight >= s.cfg.MaxPending || time.Now().Before(s.backoffUntil) {
			s.mu.Unlock()
			return
		}
		var m *natsgo.Msg
		switch {
		case len(s.retry) > 0:
			m = s.retry[0]
			s.retry[0] = nil
			s.retry = s.retry[1:]
		case len(s.queue) > 0:
			m = s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
		default:
			var lost []event.Event
			if s.held == 0 {
				lost = s.lostReports()
				s.dropReported = false // the overflow is over: report the next
			}
			s.mu.Unlock()
			for _, e := range lost {
				s.Report(e)
			}
			return
		}
		s.inflight++
		s.mu.Unlock()
		if _, err := s.js.PublishMsgAsync(m); err != nil {
			s.failed(nil, m, err)
			return
		}
	}
}

// acked is the JetStream ack callback (duplicates included: the stream has
// the message either way).
func (s *Sink) acked(_ jetstream.JetStream, _ *natsgo.Msg, _ *jetstream.PubAck) {
	s.mu.Lock()
	s.inflight--
	recovered := s.failing
	s.failing = false
	s.mu.Unlock()
	if recovered {
		s.log.Info("nats sink: publishing again")
	}
	s.kick()
}

// failed takes back a message whose publish or ack failed, to send it again
// with the same Nats-Msg-Id after a pause.
func (s *Sink) failed(_ jetstream.JetStream, m *natsgo.Msg, err error) {
	s.mu.Lock()
	s.inflight--
	s.retry = append(s.retry, m)
	s.backoffUntil = time.Now().Add(natsRetryWait)
	first := !s.failing
	s.failing = true
	s.mu.Unlock()
	if first {
		s.log.Warn("nats sink: publish failed; resending", "subject", m.Subject, "err", err)
	}
}

// The methods below run with s.mu held.

// call returns the live call callID, creating it on first use, or nil if the
// call has ended or the sink is closed.
func (s *Sink) call(callID string) *natsCall {
	if c := s.calls[callID]; c != nil {
		return c
	}
	if s.closed {
		return nil
	}
	if _, ended := s.ended[callID]; ended {
		return nil
	}
	tok := SubjectToken(callID)
	c := &natsCall{
		id:       callID,
		token:    tok,
		subjects: make(map[string]*natsSubject),
		names:    make(map[uint32]string),
		expired:  make(map[uint32]bool),
		held:     make(map[uint32]*natsHeld),
		eventSub: EventSubjectPrefix + tok,
	}
	s.calls[callID] = c
	return c
}

// full says the backlog has no room for one more message.
func (s *Sink) full() bool {
	return len(s.queue)+len(s.retry)+s.held >= s.cfg.Backlog
}

// natsDrop is an overflow to report: the call whose message was dropped
// first, and what happened.
type natsDrop struct{ callID, msg string }

// drop counts a dropped frame or event of call c and returns the report to
// send, or the zero report when this overflow was already reported.
func (s *Sink) drop(c *natsCall, frame bool) natsDrop {
	n := s.dropped.Add(1)
	if frame {
		c.lostFrames++
	} else {
		c.lostEvents++
	}
	if s.dropReported {
		return natsDrop{}
	}
	s.dropReported = true
	s.log.Error("nats sink: backlog full; dropping frames and events until it drains",
		"callId", c.id, "backlog", s.cfg.Backlog, "dropped", n)
	return natsDrop{c.id, fmt.Sprintf("nats: backlog of %d messages full (NATS slow or unreachable): dropping frames and events until it drains", s.cfg.Backlog)}
}

// lostReports is, once the backlog has emptied, a sink.error per live call
// that lost messages, saying how many, except for a call whose call.state
// terminated went out (it stays the last event); the counts restart.
func (s *Sink) lostReports() []event.Event {
	var out []event.Event
	for _, c := range s.calls {
		if c.lostFrames == 0 && c.lostEvents == 0 {
			continue
		}
		if !c.terminated {
			out = append(out, event.Event{
				Time:   time.Now(),
				Type:   event.SinkError,
				CallID: c.id,
				Sink:   "nats",
				Error: fmt.Sprintf("nats: backlog drained: %d frames and %d events of this call were dropped while it was full "+
					"(gaps in Mediabot-Seq and in the event numbers)", c.lostFrames, c.lostEvents),
			})
		}
		c.lostFrames, c.lostEvents = 0, 0
	}
	return out
}

// reportDrop sends a drop report, if r is one, through ReportErrorsTo; it runs without
// locks. Other calls may be dropping too: the event names the first.
func (s *Sink) reportDrop(r natsDrop) {
	if r.msg == "" {
		return
	}
	s.Report(event.Event{
		Time:   time.Now(),
		Type:   event.SinkError,
		CallID: r.callID,
		Sink:   "nats",
		Error:  r.msg,
	})
}

// name records that source src of call c is participant pid (the raw id)
// and publishes the frames held for it under that name.
func (s *Sink) name(c *natsCall, src uint32, pid string) {
	c.names[src] = pid
	s.release(c, src, pid)
}

// hold keeps a copy of an unnamed frame; it returns a drop report when the
// backlog is full.
func (s *Sink) hold(c *natsCall, src uint32, f *audio.Frame) natsDrop {
	h := c.held[src]
	if h == nil {
		h = &natsHeld{since: s.cfg.now()}
		c.held[src] = h
	}
	if s.full() {
		h.frames = append(h.frames, heldFrame{dropped: true}) // keeps its number
		return s.drop(c, true)
	}
	h.frames = append(h.frames, copyFrame(f, s.cfg.SampleRate))
	h.n++
	s.held++
	return natsDrop{}
}

// release publishes the frames held for src under pid, oldest first.
func (s *Sink) release(c *natsCall, src uint32, pid string) {
	h := c.held[src]
	if h == nil {
		return
	}
	delete(c.held, src)
	s.held -= h.n
	for _, hf := range h.frames {
		s.publishFrame(c, pid, hf)
	}
}

// expire gives up waiting for src's name: its frames go out as ssrc-{n}.
func (s *Sink) expire(c *natsCall, src uint32) {
	c.expired[src] = true
	s.release(c, src, ssrcName(src))
}

// releaseAll publishes every frame call c holds.
func (s *Sink) releaseAll(c *natsCall) {
	for src := range c.held {
		s.expire(c, src)
	}
}

// expireHolds releases the holds older than natsHold.
func (s *Sink) expireHolds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == 0 {
		return
	}
	t := s.cfg.now()
	for _, c := range s.calls {
		for src, h := range c.held {
			if t.Sub(h.since) >= natsHold {
				s.expire(c, src)
			}
		}
	}
}

// publishFrame numbers a frame of participant pid (the raw id, or
// ssrc-{n}) on its subject and queues it; a dropped frame only takes its
// number.
func (s *Sink) publishFrame(c *natsCall, pid string, f heldFrame) {
	tok := SubjectToken(pid)
	sub := c.subjects[tok]
	if sub == nil {
		sub = &natsSubject{
			subject: AudioSubjectPrefix + c.token + "." + tok,
			idPre:   c.token + "/" + tok + "/",
		}
		c.subjects[tok] = sub
	}
	seq := strconv.FormatUint(sub.next, 10)
	sub.next++
	if f.dropped {
		return
	}
	s.enqueue(&natsgo.Msg{
		Subject: sub.subject,
		Data:    f.pcm,
		Header: natsgo.Header{
			HeaderSampleRate:    {strconv.Itoa(f.rate)},
			HeaderSeq:           {seq},
			HeaderRTPTimestamp:  {strconv.FormatUint(uint64(f.rtp), 10)},
			HeaderMediaTime:     {strconv.FormatInt(f.mediaMs, 10)},
			HeaderConcealed:     {strconv.FormatBool(f.concealed)},
			HeaderInstance:      {s.cfg.InstanceID},
			HeaderCallID:        {c.id},
			HeaderParticipantID: {pid},
			HeaderMsgID:         {sub.idPre + seq},
		},
	})
}

func (s *Sink) enqueue(m *natsgo.Msg) {
	s.queue = append(s.queue, m)
}

// copyFrame copies what a message needs out of f, the PCM as s16le.
func copyFrame(f *audio.Frame, defaultRate int) heldFrame {
	pcm := make([]byte, 2*len(f.PCM))
	for i, v := range f.PCM {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	rate := f.SampleRate
	if rate <= 0 {
		rate = defaultRate
	}
	return heldFrame{pcm: pcm, rate: rate, rtp: f.RTPTimestamp, mediaMs: f.MediaTimeMs, concealed: f.Concealed}
}

func ssrcName(src uint32) string { return "ssrc-" + strconv.FormatUint(uint64(src), 10) }

// SubjectToken makes id usable as one NATS subject token, as the NATS sink
// does for call and participant ids: '.', '*', '>' and whitespace become
// '_', and "" becomes "_". Graph's ids (GUIDs) pass unchanged.
func SubjectToken(id string) string {
	if id == "" {
		return "_"
	}
	if strings.IndexFunc(id, badTokenRune) < 0 {
		return id
	}
	return strings.Map(func(r rune) rune {
		if badTokenRune(r) {
			return '_'
		}
		return r
	}, id)
}

func badTokenRune(r rune) bool {
	return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r)
}

// subjectMatches says whether the subject filter (with '*' and '>'
// wildcards) matches subject.
func subjectMatches(filter, subject string) bool {
	f, t := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(t) > i
		case i >= len(t):
			return false
		case tok != "*" && tok != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

// redactURL hides the passwords of a comma-separated list of NATS URLs.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// ParseMaxBytes reads a stream size as `mediabot serve --nats-max-bytes`
// takes it, into Config.MaxBytes: a whole number of bytes with an optional
// unit, B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024),
// e.g. "10GiB" or "500MB"; "0", "-1" and "none" mean no limit (-1).
func ParseMaxBytes(v string) (int64, error) {
	t := strings.TrimSpace(v)
	if t == "0" || t == "-1" || strings.EqualFold(t, "none") {
		return -1, nil
	}
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(t)
	}
	units := map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
	unit, ok := units[strings.ToLower(strings.TrimSpace(t[i:]))]
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if i == 0 || !ok || err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is not a size (bytes, e.g. 10GiB or 500MB; 0 or -1 for no limit)", v)
	}
	return n * unit, nil
}
