package mediasession

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

func parseOffer(t *testing.T, offer string) *sdp.SessionDescription {
	t.Helper()
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, offer)
	}
	return &desc
}

// attr finds a media-level attribute, falling back to the session level.
func attr(desc *sdp.SessionDescription, m *sdp.MediaDescription, key string) (string, bool) {
	if v, ok := m.Attribute(key); ok {
		return v, true
	}
	return desc.Attribute(key)
}

// hostCandidates lists "address:port" of every host candidate in the SDP.
func hostCandidates(t *testing.T, desc *sdp.SessionDescription) []ice.Candidate {
	t.Helper()
	var out []ice.Candidate
	for _, m := range desc.MediaDescriptions {
		for _, a := range m.Attributes {
			if !a.IsICECandidate() {
				continue
			}
			c, err := ice.UnmarshalCandidate(a.Value)
			if err != nil {
				t.Fatalf("candidate %q: %v", a.Value, err)
			}
			if c.Type() == ice.CandidateTypeHost {
				out = append(out, c)
			}
		}
	}
	return out
}

func hasHost(cands []ice.Candidate, addr string, port int) bool {
	return slices.ContainsFunc(cands, func(c ice.Candidate) bool {
		return c.Address() == addr && c.Port() == port
	})
}

func TestOfferHasRecvonlyAudioSectionsWithOpusAndG711AndGatheredCandidates(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	for _, sections := range []int{MinAudioSections, 6} {
		s := newTestSession(t, e, SessionConfig{AudioSections: sections})
		desc := parseOffer(t, s.Blob().Offer)

		audio := 0
		for i, m := range desc.MediaDescriptions {
			if m.MediaName.Media != "audio" {
				continue
			}
			audio++
			_, recvonly := m.Attribute("recvonly")
			_, sendrecv := m.Attribute("sendrecv")
			if !recvonly && !sendrecv {
				t.Errorf("section %d is neither recvonly nor sendrecv", i)
			}
			var rtpmaps []string
			for _, a := range m.Attributes {
				if a.Key == "rtpmap" {
					rtpmaps = append(rtpmaps, a.Value)
				}
			}
			// G.711 may carry its channel count (/1) or not: both are RFC 4566.
			for _, want := range []string{"111 opus/48000/2", "0 PCMU/8000", "8 PCMA/8000"} {
				if !slices.Contains(rtpmaps, want) && !slices.Contains(rtpmaps, want+"/1") {
					t.Errorf("section %d: no a=rtpmap:%s in %q", i, want, rtpmaps)
				}
			}
			for _, key := range []string{"ice-ufrag", "ice-pwd", "fingerprint"} {
				if v, ok := attr(desc, m, key); !ok || v == "" {
					t.Errorf("section %d: no a=%s", i, key)
				}
			}
			if v, _ := attr(desc, m, "setup"); v != "actpass" {
				t.Errorf("section %d: a=setup:%s, want actpass", i, v)
			}
		}
		if audio != sections {
			t.Errorf("%d audio sections, want %d", audio, sections)
		}
		if !strings.Contains(s.Blob().Offer, "a=end-of-candidates") {
			t.Error("offer is not complete: no a=end-of-candidates")
		}
		if cands := hostCandidates(t, desc); !hasHost(cands, "127.0.0.1", e.MediaPort()) {
			t.Errorf("no host candidate 127.0.0.1:%d in %v", e.MediaPort(), cands)
		}
	}
}

// Every audio section offers the RFC 6464 audio level extension, under the
// same one-byte id (BUNDLE maps an id to one extension on the transport),
// and maps no other.
func TestOfferMapsTheAudioLevelExtensionInEveryAudioSection(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	for _, sections := range []int{MinAudioSections, 6} {
		s := newTestSession(t, e, SessionConfig{AudioSections: sections})
		desc := parseOffer(t, s.Blob().Offer)
		if _, ok := desc.Attribute("extmap"); ok {
			t.Error("an extmap at session level")
		}
		for i, m := range desc.MediaDescriptions {
			var extmaps []string
			for _, a := range m.Attributes {
				if a.Key == "extmap" {
					extmaps = append(extmaps, a.Value)
				}
			}
			if want := "1 " + AudioLevelURI; len(extmaps) != 1 || extmaps[0] != want {
				t.Errorf("section %d: extmaps %q, want just %q", i, extmaps, want)
			}
			var ext sdp.ExtMap
			if err := ext.Unmarshal("extmap:" + extmaps[0]); err != nil || ext.Value != 1 || ext.URI.String() != AudioLevelURI || ext.Direction != 0 {
				t.Errorf("section %d: extmap %q reads as %+v, %v", i, extmaps[0], ext, err)
			}
		}
		if strings.Contains(s.Blob().Offer, "extmap-allow-mixed") {
			t.Error("the offer allows two-byte headers: the bot asks for the one-byte form")
		}
	}
}

func TestBlobCarriesAFreshTokenSessionIDAndExpiry(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	const timeout = 10 * time.Second
	before := time.Now()
	s1 := newTestSession(t, e, SessionConfig{
		CallID:        "call-1",
		AnswerTimeout: timeout,
		AnswerURI:     func(id string) string { return "https://bot.example.com/media/sessions/" + id + "/answer" },
	})
	s2 := newTestSession(t, e, SessionConfig{AnswerTimeout: timeout})
	after := time.Now()

	b := s1.Blob()
	if b.V != BlobVersion || b.CallID != "call-1" || b.SessionID != s1.ID() {
		t.Errorf("blob v=%d callId=%q sessionId=%q, want 1, call-1, %q", b.V, b.CallID, b.SessionID, s1.ID())
	}
	if want := "https://bot.example.com/media/sessions/" + s1.ID() + "/answer"; b.AnswerURI != want {
		t.Errorf("answerUri %q, want %q", b.AnswerURI, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b.Token)
	if err != nil {
		t.Fatalf("token %q is not unpadded base64url: %v", b.Token, err)
	}
	if len(raw) < 16 {
		t.Errorf("token has %d bits, want at least 128", len(raw)*8)
	}
	if b.Token == s2.Blob().Token {
		t.Error("two sessions share a token")
	}
	if s1.ID() == "" || s1.ID() == s2.ID() {
		t.Errorf("session ids %q and %q are not distinct", s1.ID(), s2.ID())
	}
	if e.Session(s1.ID()) != s1 || e.Session(s2.ID()) != s2 || e.Sessions() != 2 {
		t.Error("the engine does not hold both sessions")
	}
	// expiresAt is written to the second, rounded up.
	lo, hi := before.Add(timeout), after.Add(timeout+time.Second)
	if b.ExpiresAt.Before(lo) || b.ExpiresAt.After(hi) {
		t.Errorf("expiresAt %v, want within [%v, %v]", b.ExpiresAt, lo, hi)
	}
}

func TestNewSessionRefusesFewerThanFourSections(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	for _, n := range []int{0, 1, MinAudioSections - 1} {
		if _, err := e.NewSession(SessionConfig{AudioSections: n}); !errors.Is(err, ErrTooFewSections) {
			t.Errorf("%d sections: %v, want ErrTooFewSections", n, err)
		}
	}
	if e.Sessions() != 0 {
		t.Errorf("%d sessions left behind", e.Sessions())
	}
}

func TestPublicIPReplacesTheHostCandidateAddress(t *testing.T) {
	e := newTestEngine(t, EngineConfig{BindIP: "127.0.0.1", PublicIP: "127.0.0.2"})
	s := newTestSession(t, e, SessionConfig{})
	cands := hostCandidates(t, parseOffer(t, s.Blob().Offer))
	if !hasHost(cands, "127.0.0.2", e.MediaPort()) {
		t.Errorf("no host candidate 127.0.0.2:%d in %v", e.MediaPort(), cands)
	}
	if hasHost(cands, "127.0.0.1", e.MediaPort()) {
		t.Errorf("the bind address 127.0.0.1 is still offered: %v", cands)
	}
}

func TestNewEngineRefusesBadAddresses(t *testing.T) {
	tests := []EngineConfig{
		{BindIP: "not-an-ip"},
		{BindIP: "300.1.1.1"},
		{BindIP: "127.0.0.1:5000"},
		{BindIP: "127.0.0.1", PublicIP: "bot.example.com"},
		{BindIP: "127.0.0.1", PublicIP: "1.2.3"},
	}
	for _, cfg := range tests {
		e, err := NewEngine(cfg)
		if !errors.Is(err, ErrBadEngineSetting) {
			t.Errorf("%+v: %v, want ErrBadEngineSetting", cfg, err)
		}
		if e != nil {
			e.Close()
		}
	}
}

func TestEngineCloseEndsEverySessionAndRefusesNewOnes(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	var failed sync.Map
	var sessions []*Session
	for i := range 2 {
		sessions = append(sessions, newTestSession(t, e, SessionConfig{
			OnFailed: func(reason string) { failed.Store(i, reason) },
		}))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close", n)
	}
	for _, s := range sessions {
		if err := s.Answer(s.Blob().Token, []byte("v=0")); !errors.Is(err, ErrSessionClosed) {
			t.Errorf("answer after engine Close: %v, want ErrSessionClosed", err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.NewSession(SessionConfig{AudioSections: MinAudioSections,
			OnFailed: func(reason string) { failed.Store("refused", reason) }})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrEngineClosed) {
			t.Errorf("NewSession after Close: %v, want ErrEngineClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NewSession after Close hangs")
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	failed.Range(func(k, v any) bool {
		t.Errorf("session %v: OnFailed(%q) although the bot closed it", k, v)
		return true
	})
}

func TestSessionNeverAnsweredFailsAndLeavesTheEngine(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	reasons := make(chan string, 4)
	s := newTestSession(t, e, SessionConfig{
		AnswerTimeout:  200 * time.Millisecond,
		ConnectTimeout: 200 * time.Millisecond,
		OnFailed:       func(reason string) { reasons <- reason },
	})
	select {
	case r := <-reasons:
		if r != "media never connected" {
			t.Errorf("OnFailed(%q), want %q", r, "media never connected")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnFailed was not called")
	}
	if !eventually(2*time.Second, func() bool { return e.Session(s.ID()) == nil && e.Sessions() == 0 }) {
		t.Error("the failed session is still in the engine")
	}
	select {
	case r := <-reasons:
		t.Errorf("OnFailed called again with %q", r)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestExpiresAtNeverShortensTheAnswerWindow(t *testing.T) {
	now := time.Date(2026, 11, 28, 7, 0, 14, 900e6, time.FixedZone("CET", 3600))
	tests := []struct {
		timeout time.Duration
		want    time.Time
	}{
		{200 * time.Millisecond, time.Date(2026, 11, 28, 6, 0, 16, 0, time.UTC)},
		{100 * time.Millisecond, time.Date(2026, 11, 28, 6, 0, 15, 0, time.UTC)},
		{30 * time.Second, time.Date(2026, 11, 28, 6, 0, 45, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := expiresAt(now, tt.timeout); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("expiresAt(%v, %v) = %v, want %v", now, tt.timeout, got, tt.want)
		}
	}
}

func TestSessionCloseIsIdempotentAndRemovesTheSession(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	s := newTestSession(t, e, SessionConfig{})
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if e.Session(s.ID()) != nil {
		t.Error("closed session is still in the engine")
	}
}
