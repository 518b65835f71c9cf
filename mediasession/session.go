package mediasession

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
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
	// OnTrack is called once per remote audio track, on a pion goroutine; it
	// must start its own reader and return.
	OnTrack func(*Track)
	// OnConnected is called once when ICE and DTLS are up: the start of the
	// call's media clock.
	OnConnected func(at time.Time)
	// OnFailed is called at most once when the media leg fails or never
	// connects; the session is closed after it.
	OnFailed func(reason string)
}

// Session is one call's WebRTC peer connection and the blob that describes it.
type Session struct {
	id     string
	engine *Engine
	cfg    SessionConfig
	pc     *webrtc.PeerConnection
	blob   Blob

	mu          sync.Mutex
	answered    bool
	closed      bool
	connectedAt time.Time
	connectOnce sync.Once
	failOnce    sync.Once
	timer       *time.Timer
}

// NewSession creates the peer connection, gathers its candidates and builds
// the blob. It blocks until gathering completes (no trickle: the offer in the
// blob is complete), which on a muxed port takes milliseconds.
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
	pc, err := e.nextAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	s := &Session{id: randomHex(16), engine: e, cfg: cfg, pc: pc}
	for range cfg.AudioSections {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, fmt.Errorf("add audio section: %w", err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, fmt.Errorf("set offer: %w", err)
	}
	<-gathered
	s.blob = Blob{
		V:         BlobVersion,
		SessionID: s.id,
		CallID:    cfg.CallID,
		Offer:     pc.LocalDescription().SDP,
		Token:     randomToken(),
		ExpiresAt: expiresAt(time.Now(), cfg.AnswerTimeout),
	}
	if cfg.AnswerURI != nil {
		s.blob.AnswerURI = cfg.AnswerURI(s.id)
	}
	if err := e.add(s); err != nil {
		pc.Close()
		return nil, err
	}
	// Only a session the caller gets may report to it: closing a peer
	// connection above would otherwise call OnFailed for a refused session.
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(s.onState)
	s.mu.Lock() // the timer may fire before AfterFunc returns; Close reads it
	s.timer = time.AfterFunc(time.Until(s.blob.ExpiresAt)+cfg.ConnectTimeout, func() {
		if s.ConnectedAt().IsZero() {
			s.fail("media never connected")
		}
	})
	s.mu.Unlock()
	return s, nil
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
	case time.Now().After(s.blob.ExpiresAt):
		return ErrSessionExpired
	case s.answered:
		return ErrAlreadyAnswered
	}
	if err := checkAnswer(answer); err != nil {
		return err
	}
	err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	s.answered = true
	return nil
}

// Close ends the session's peer connection. It is safe to call more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	timer := s.timer
	s.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	s.engine.remove(s.id)
	return s.pc.Close()
}

func (s *Session) onState(state webrtc.PeerConnectionState) {
	switch state {
	case webrtc.PeerConnectionStateConnected:
		s.markConnected()
	case webrtc.PeerConnectionStateFailed:
		s.fail("ICE failed")
	case webrtc.PeerConnectionStateClosed:
		s.fail("DTLS closed")
	}
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

// markConnected starts the media clock and calls OnConnected, once. onTrack
// calls it too: pion runs each callback on a goroutine of its own, and a
// track's first packet must not be read before OnConnected has returned.
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

func (s *Session) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	s.markConnected() // media flows only once ICE and DTLS are up
	if remote.Kind() != webrtc.RTPCodecTypeAudio || s.cfg.OnTrack == nil {
		return
	}
	codec := remote.Codec()
	s.cfg.OnTrack(&Track{
		SSRC:        uint32(remote.SSRC()),
		MimeType:    codec.MimeType,
		ClockRate:   int(codec.ClockRate),
		Channels:    int(codec.Channels),
		PayloadType: uint8(remote.PayloadType()),
		remote:      remote,
	})
}

// Track is one remote audio stream, read as decrypted RTP packets.
type Track struct {
	SSRC        uint32
	MimeType    string // e.g. audio/opus, audio/PCMU
	ClockRate   int
	Channels    int
	PayloadType uint8
	remote      *webrtc.TrackRemote
}

// Read reads one RTP packet into b (pion copies it; no allocation). It
// returns an error once the session is closed.
func (t *Track) Read(b []byte) (int, error) {
	n, _, err := t.remote.Read(b)
	return n, err
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
