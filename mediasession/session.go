package mediasession

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
)

// MinAudioSections is the least number of audio sections an offer carries:
// the media processor sends up to that many speakers unmixed at once.
const MinAudioSections = 4

// SessionConfig describes one call's media session.
type SessionConfig struct {
	CallID string
	// AudioSections is the number of recvonly audio sections in the offer
	// (at least MinAudioSections).
	AudioSections int
	// AnswerURI builds the blob's answerUri from the session id.
	AnswerURI func(sessionID string) string
	// AnswerTimeout bounds how long the blob's answer is accepted (expiresAt).
	AnswerTimeout time.Duration
	// ConnectTimeout bounds answer-to-connected; past it OnFailed is called.
	ConnectTimeout time.Duration
	// OnTrack is called once per remote audio stream, with its first
	// packet, on the goroutine that reads the media socket: it must not
	// block. The handler it returns receives the stream's packets; nil
	// ignores the stream.
	OnTrack func(*Track) PacketHandler
	// OnConnected is called once when ICE and DTLS are up, before any
	// packet: the start of the call's media clock.
	OnConnected func(at time.Time)
	// OnFailed is called at most once when the media leg fails or never
	// connects; the session is closed after it.
	OnFailed func(reason string)
}

// Session is one call's media leg: an ICE agent on a shared media port, the
// DTLS handshake that keys SRTP, and the route that takes the peer's SRTP
// off the port; and the blob that describes it.
type Session struct {
	id     string
	engine *Engine
	port   *enginePort
	cfg    SessionConfig
	agent  *ice.Agent
	blob   Blob
	// expires is blob.ExpiresAt on the monotonic clock: the wire's UTC
	// time would follow the wall clock if it were set.
	expires time.Time
	done    chan struct{} // closed by Close

	mu          sync.Mutex
	answered    bool
	closed      bool
	connectedAt time.Time
	route       *route // from the answer on; published to the port once DTLS is up
	dtls        *dtls.Conn
	reporter    *reporter // RTCP receiver reports, once DTLS is up
	connectOnce sync.Once
	failOnce    sync.Once
	timer       *time.Timer
}

// gatherTimeout bounds candidate gathering; on a muxed port it takes
// milliseconds.
const gatherTimeout = 5 * time.Second

// A connected peer that no longer answers ICE checks (a host that crashed
// or fell off the network, which sends no DTLS close) is disconnected
// iceDisconnectedTimeout after its last answer and failed
// iceFailedTimeout later, when OnFailed is called. These are pion's
// defaults, stated here because how long a call outlives a vanished peer
// rests on them.
const (
	iceDisconnectedTimeout = 5 * time.Second
	iceFailedTimeout       = 25 * time.Second
	// ICEKeepaliveInterval is how often the agent checks the peer and
	// looks at its state.
	ICEKeepaliveInterval = 2 * time.Second
	// ICEGivesUpAfter is how long after a vanished peer's last answer to a
	// check OnFailed reports it gone: its last packet may come up to one
	// ICEKeepaliveInterval after that answer, and the failure is seen up
	// to one interval late.
	ICEGivesUpAfter = iceDisconnectedTimeout + iceFailedTimeout
)

// NewSession creates the ICE agent, gathers its candidates and builds the
// blob. It blocks until gathering completes (no trickle: the offer in the
// blob is complete).
func (e *Engine) NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.AudioSections < MinAudioSections {
		return nil, fmt.Errorf("%w: got %d", ErrTooFewSections, cfg.AudioSections)
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 30 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = cfg.AnswerTimeout
	}
	select {
	case <-e.closed:
		return nil, ErrEngineClosed
	default:
	}
	port := e.nextPort()
	agent, err := ice.NewAgentWithOptions(slices.Concat(port.agentOptions, []ice.AgentOption{
		ice.WithDisconnectedTimeout(iceDisconnectedTimeout), ice.WithFailedTimeout(iceFailedTimeout),
		ice.WithKeepaliveInterval(ICEKeepaliveInterval)})...)
	if err != nil {
		return nil, fmt.Errorf("new ICE agent: %w", err)
	}
	candidates, err := gather(agent)
	if err != nil {
		_ = agent.Close()
		return nil, err
	}
	ufrag, pwd, err := agent.GetLocalUserCredentials()
	if err != nil {
		_ = agent.Close()
		return nil, fmt.Errorf("ICE credentials: %w", err)
	}
	s := &Session{id: randomHex(16), engine: e, port: port, cfg: cfg, agent: agent, done: make(chan struct{})}
	now := time.Now()
	s.blob = Blob{
		V:         BlobVersion,
		SessionID: s.id,
		CallID:    cfg.CallID,
		Offer: buildOffer(offerParams{
			sections: cfg.AudioSections, ufrag: ufrag, pwd: pwd,
			fingerprint: e.cert.fingerprint, candidates: candidates, lite: e.lite,
		}),
		Token:     randomToken(),
		ExpiresAt: expiresAt(now, cfg.AnswerTimeout),
	}
	s.expires = now.Add(s.blob.ExpiresAt.Sub(now))
	if cfg.AnswerURI != nil {
		s.blob.AnswerURI = cfg.AnswerURI(s.id)
	}
	if err := e.add(s); err != nil {
		_ = agent.Close()
		return nil, err
	}
	// Only a session the caller gets may report to it.
	_ = agent.OnConnectionStateChange(func(st ice.ConnectionState) {
		if st == ice.ConnectionStateFailed {
			s.fail("ICE failed")
		}
	})
	s.mu.Lock() // the timer may fire before AfterFunc returns; Close reads it
	s.timer = time.AfterFunc(time.Until(s.expires)+cfg.ConnectTimeout, func() {
		if s.ConnectedAt().IsZero() {
			s.fail("media never connected")
		}
	})
	s.mu.Unlock()
	return s, nil
}

// gather collects the agent's candidates, as a=candidate values.
func gather(agent *ice.Agent) ([]string, error) {
	var (
		mu         sync.Mutex
		candidates []string
		complete   = make(chan struct{})
	)
	err := agent.OnCandidate(func(c ice.Candidate) {
		mu.Lock()
		defer mu.Unlock()
		if c == nil {
			close(complete)
			return
		}
		candidates = append(candidates, c.Marshal())
	})
	if err == nil {
		err = agent.GatherCandidates()
	}
	if err != nil {
		return nil, fmt.Errorf("gather candidates: %w", err)
	}
	select {
	case <-complete:
	case <-time.After(gatherTimeout):
		return nil, fmt.Errorf("gather candidates: not done in %s", gatherTimeout)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(candidates) == 0 {
		return nil, errors.New("gather candidates: none (is the media bind address on this host?)")
	}
	return candidates, nil
}

// expiresAt is now+timeout rounded up to the second, as the blob writes it:
// rounding down would shorten the answer window, to nothing when timeout is
// under a second.
func expiresAt(now time.Time, timeout time.Duration) time.Time {
	at := now.Add(timeout).UTC()
	if down := at.Truncate(time.Second); down.Before(at) {
		return down.Add(time.Second)
	}
	return at
}

// ID is the session id, unique in the process.
func (s *Session) ID() string { return s.id }

// Blob is the session's blob v1.
func (s *Session) Blob() Blob { return s.blob }

// ConnectedAt is when the media connected (zero before): the origin of the
// call's media clock.
func (s *Session) ConnectedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectedAt
}

// Answer takes the media processor's SDP answer. token is the bearer token
// the processor presented; it must equal the blob's.
func (s *Session) Answer(token string, answer []byte) error {
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.blob.Token)) != 1 {
		return ErrBadToken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrSessionClosed
	case time.Now().After(s.expires):
		return ErrSessionExpired
	case s.answered:
		return ErrAlreadyAnswered
	}
	remote, err := readAnswer(answer, s.cfg.AudioSections)
	if err != nil {
		return err
	}
	s.answered = true
	go s.connect(remote)
	return nil
}

// Close ends the session: no packet is delivered after it, every track's
// Flush has been called when it returns, and the peer is told (an RTCP BYE
// when the bot has sent reports, then DTLS close_notify). It is safe to
// call more than once, but not from a PacketHandler.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	timer, r, conn, rp := s.timer, s.route, s.dtls, s.reporter
	s.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if rp != nil {
		rp.stop(true) // a last report with BYE: the bot leaves
	}
	s.engine.remove(s.id)
	if r != nil {
		s.port.takeQueued() // the call's last packets, still in the socket
		s.port.removeRoutes(r)
		r.close()
	}
	if conn != nil {
		_ = conn.Close() // closes the ICE agent under it too
	}
	return s.agent.Close()
}

// fail reports the failure once (unless the bot closed the session itself)
// and closes the session.
func (s *Session) fail(reason string) {
	s.mu.Lock()
	closedByUs := s.closed
	s.mu.Unlock()
	if closedByUs {
		return
	}
	s.failOnce.Do(func() {
		if s.cfg.OnFailed != nil {
			s.cfg.OnFailed(reason)
		}
	})
	go s.Close()
}

// markConnected starts the media clock and calls OnConnected, once.
func (s *Session) markConnected() {
	s.connectOnce.Do(func() {
		now := time.Now()
		s.mu.Lock()
		s.connectedAt = now
		s.mu.Unlock()
		if s.cfg.OnConnected != nil {
			s.cfg.OnConnected(now)
		}
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomToken returns 256 random bits, base64url: the blob's bearer token.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
