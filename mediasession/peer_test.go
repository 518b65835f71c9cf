package mediasession

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/mediabot-dev/mediabot/internal/loopback"
)

// answeringPeer plays the media processor in these tests: a pion peer on
// loopback that answers a session's offer and sends Opus on some of its
// sections. (graphsim has the full one; it imports this package, so an
// internal test cannot use it.)
type answeringPeer struct {
	pc      *webrtc.PeerConnection
	tracks  []*webrtc.TrackLocalStaticRTP
	senders []*webrtc.RTPSender
	ssrcs   []uint32
	answer  string
	// levelID is the audio level extension id each sender negotiated (0:
	// none), as pion reports it.
	levelID []uint8
}

// newAnsweringPeer answers offer with one Opus track on each of the first
// speakers sections. It gathers all its candidates first, as the media
// processor does, and closes itself when the test ends. It knows no header
// extension: its answer maps none.
func newAnsweringPeer(t testing.TB, offer string, speakers int) *answeringPeer {
	t.Helper()
	return answerOffer(t, offer, speakers, false)
}

// newLevelsPeer is newAnsweringPeer knowing the RFC 6464 audio level
// extension, so that its answer maps it.
func newLevelsPeer(t testing.TB, offer string, speakers int) *answeringPeer {
	t.Helper()
	return answerOffer(t, offer, speakers, true)
}

func answerOffer(t testing.TB, offer string, speakers int, levels bool) *answeringPeer {
	t.Helper()
	return answerOfferWith(t, offer, speakers, levels, &interceptor.Registry{})
}

// answerOfferWith is answerOffer with the peer's interceptors.
func answerOfferWith(t testing.TB, offer string, speakers int, levels bool, interceptors *interceptor.Registry) *answeringPeer {
	t.Helper()
	m := &webrtc.MediaEngine{}
	opusCodec := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if levels {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	se := loopback.SettingEngine()
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(interceptors))

	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &answeringPeer{pc: pc}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("peer: set offer: %v", err)
	}
	for i := range speakers {
		track, err := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, fmt.Sprintf("audio%d", i), "peer")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			t.Fatalf("peer: add track: %v", err)
		}
		params := sender.GetParameters()
		p.tracks = append(p.tracks, track)
		p.senders = append(p.senders, sender)
		p.ssrcs = append(p.ssrcs, uint32(params.Encodings[0].SSRC))
		var id uint8
		for _, ext := range params.HeaderExtensions {
			if ext.URI == AudioLevelURI {
				id = uint8(ext.ID)
			}
		}
		p.levelID = append(p.levelID, id)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatalf("peer: answer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatalf("peer: set answer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("peer: gathering did not complete in 5s")
	}
	p.answer = pc.LocalDescription().SDP
	return p
}

// waitConnected fails the test unless ICE and DTLS come up within timeout.
func (p *answeringPeer) waitConnected(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		switch st := p.pc.ConnectionState(); st {
		case webrtc.PeerConnectionStateConnected:
			return
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			t.Fatalf("peer: connection %s", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("peer: not connected after %s", timeout)
}

// newTestEngine opens an engine on loopback and closes it when the test ends.
func newTestEngine(t testing.TB, cfg EngineConfig) *Engine {
	t.Helper()
	if cfg.BindIP == "" {
		cfg.BindIP = "127.0.0.1"
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// newTestSession makes a session with 4 sections and a 10 s answer window
// unless cfg says otherwise, and closes it when the test ends.
func newTestSession(t testing.TB, e *Engine, cfg SessionConfig) *Session {
	t.Helper()
	if cfg.AudioSections == 0 {
		cfg.AudioSections = MinAudioSections
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 10 * time.Second
	}
	if cfg.CallID == "" {
		cfg.CallID = "57DAB8B1894C409AB240BD8BEAE78896"
	}
	s, err := e.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newAnswerServer serves the engine's answer endpoint on its contract route.
func newAnswerServer(t testing.TB, e *Engine) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", e.AnswerHandler())
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// postAnswer POSTs body as an SDP answer for session id; auth is the whole
// Authorization header ("" sends none). It returns the status and body.
func postAnswer(t testing.TB, srv *httptest.Server, id, auth string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/media/sessions/"+id+"/answer", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, got
}

// eventually polls cond every 5 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}
