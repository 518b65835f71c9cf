package mediasession

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// withoutLines drops every SDP line that starts with one of prefixes: it
// turns a real answer into one that parses but that pion refuses.
func withoutLines(sdp string, prefixes ...string) []byte {
	var out []string
	for _, line := range strings.SplitAfter(sdp, "\r\n") {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(line, p)
		}
		if !drop {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, ""))
}

// Answers that the endpoint must refuse with 400, leaving the session open
// for a good answer.
var badAnswers = []struct {
	name string
	sdp  func(real string) []byte
}{
	{"garbage", func(string) []byte { return []byte("this is not SDP\r\n") }},
	{"empty body", func(string) []byte { return nil }},
	{"truncated SDP", func(real string) []byte { return []byte(real[:len(real)/3]) }},
	{"no audio section", func(string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
			"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n")
	}},
	{"no DTLS fingerprint", func(real string) []byte { return withoutLines(real, "a=fingerprint:") }},
	{"no ICE credentials", func(real string) []byte { return withoutLines(real, "a=ice-ufrag:", "a=ice-pwd:") }},
	{"no ICE password", func(real string) []byte { return withoutLines(real, "a=ice-pwd:") }},
	{"malformed fingerprint", func(real string) []byte {
		return []byte(regexp.MustCompile(`a=fingerprint:sha-256 `).ReplaceAllString(real, "a=fingerprint:sha-256"))
	}},
	{"payload type without rtpmap", func(real string) []byte {
		return []byte(strings.Replace(real, "UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 96", 1))
	}},
	{"only unparsable candidates", func(real string) []byte {
		return []byte(regexp.MustCompile(`a=candidate:[^\r]*`).ReplaceAllString(real, "a=candidate:1 1 udp x 127.0.0.1 notaport typ host"))
	}},
}

// answerCase is one POST to the answer endpoint, against a fresh session
// that a real peer has answered (the answer is not yet sent).
type answerCase struct {
	name   string
	cfg    SessionConfig
	before func(t *testing.T, s *Session, answer []byte) // e.g. answer once, close
	id     func(s *Session) string                       // nil: the session's id
	auth   func(s *Session) string                       // the Authorization header
	body   func(real string) []byte                      // nil: the real answer
	want   int
}

func TestAnswerEndpointStatusCodes(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	srv := newAnswerServer(t, e)
	bearer := func(s *Session) string { return "Bearer " + s.Blob().Token }

	tests := []answerCase{
		{name: "real answer with the token is taken", auth: bearer, want: http.StatusNoContent},
		{name: "no Authorization header", auth: func(*Session) string { return "" }, want: http.StatusUnauthorized},
		{name: "wrong token", auth: func(*Session) string { return "Bearer not-the-token" }, want: http.StatusUnauthorized},
		{name: "token without Bearer", auth: func(s *Session) string { return s.Blob().Token }, want: http.StatusUnauthorized},
		{name: "unknown session", auth: bearer, id: func(*Session) string { return "0123456789abcdef" }, want: http.StatusNotFound},
		{
			name: "second answer", auth: bearer, want: http.StatusConflict,
			before: func(t *testing.T, s *Session, answer []byte) {
				if err := s.Answer(s.Blob().Token, answer); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "answer after expiry", auth: bearer, want: http.StatusGone,
			cfg: SessionConfig{AnswerTimeout: 200 * time.Millisecond, ConnectTimeout: 10 * time.Second},
			before: func(t *testing.T, s *Session, _ []byte) {
				time.Sleep(time.Until(s.Blob().ExpiresAt) + 20*time.Millisecond)
			},
		},
		{
			name: "answer after Session.Close", auth: bearer, want: http.StatusGone,
			before: func(t *testing.T, s *Session, _ []byte) { s.Close() },
		},
		{name: "too large", auth: bearer, want: http.StatusRequestEntityTooLarge,
			body: func(string) []byte { return bytes.Repeat([]byte("a"), MaxAnswerBytes+1) }},
	}
	for _, bad := range badAnswers {
		tests = append(tests, answerCase{name: "bad SDP: " + bad.name, auth: bearer, body: bad.sdp, want: http.StatusBadRequest})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t, e, tt.cfg)
			answer := newAnsweringPeer(t, s.Blob().Offer, 1).answer
			if tt.before != nil {
				tt.before(t, s, []byte(answer))
			}
			id := s.ID()
			if tt.id != nil {
				id = tt.id(s)
			}
			body := []byte(answer)
			if tt.body != nil {
				body = tt.body(answer)
			}
			status, header, got := postAnswer(t, srv, id, tt.auth(s), body)
			if status != tt.want {
				t.Fatalf("status %d, want %d; body %s", status, tt.want, got)
			}
			if status == http.StatusNoContent {
				if len(got) != 0 {
					t.Errorf("204 with a body: %q", got)
				}
				return
			}
			checkErrorBody(t, header, got)
		})
	}
}

// checkErrorBody wants one line of JSON, {"error": "..."}.
func checkErrorBody(t *testing.T, header http.Header, body []byte) {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if bytes.Count(body, []byte("\n")) != 1 || !bytes.HasSuffix(body, []byte("\n")) {
		t.Errorf("error body is not one line: %q", body)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	msg, ok := obj["error"].(string)
	if len(obj) != 1 || !ok || msg == "" {
		t.Errorf("error body %s, want exactly {\"error\": \"...\"}", body)
	}
}

// A 400 says the answer was bad, not that the session is used up: the media
// processor may correct itself and answer again.
func TestBadAnswerDoesNotConsumeTheSession(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	srv := newAnswerServer(t, e)
	for _, bad := range badAnswers {
		t.Run(bad.name, func(t *testing.T) {
			s := newTestSession(t, e, SessionConfig{})
			peer := newAnsweringPeer(t, s.Blob().Offer, 1)
			auth := "Bearer " + s.Blob().Token
			if status, _, body := postAnswer(t, srv, s.ID(), auth, bad.sdp(peer.answer)); status != http.StatusBadRequest {
				t.Fatalf("bad answer: status %d, want 400; %s", status, body)
			}
			if status, _, body := postAnswer(t, srv, s.ID(), auth, []byte(peer.answer)); status != http.StatusNoContent {
				t.Fatalf("good answer after a bad one: status %d, want 204; %s", status, body)
			}
			peer.waitConnected(t, 10*time.Second)
		})
	}
}

// The token is checked before anything about the session is revealed.
func TestWrongTokenIsRefusedEvenOnAnAnsweredSession(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	srv := newAnswerServer(t, e)
	s := newTestSession(t, e, SessionConfig{})
	peer := newAnsweringPeer(t, s.Blob().Offer, 1)
	if status, _, body := postAnswer(t, srv, s.ID(), "Bearer "+s.Blob().Token, []byte(peer.answer)); status != http.StatusNoContent {
		t.Fatalf("status %d, want 204; %s", status, body)
	}
	if status, _, _ := postAnswer(t, srv, s.ID(), "Bearer x", []byte(peer.answer)); status != http.StatusUnauthorized {
		t.Errorf("wrong token on an answered session: status %d, want 401", status)
	}
}
