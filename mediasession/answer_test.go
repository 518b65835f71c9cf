package mediasession

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// hugeNumbersAnswer is an answer whose every number overflows its field.
const hugeNumbersAnswer = "v=0\r\n" +
	"o=- 99999999999999999999999 18446744073709551616 IN IP4 127.0.0.1\r\n" +
	"s=-\r\nt=99999999999999999999 18446744073709551616\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=fingerprint:sha-256 AA:BB\r\n" +
	"m=audio 4294967296 UDP/TLS/RTP/SAVPF 111 256 -1\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"a=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n" +
	"a=rtpmap:111 opus/99999999999999999999/99999999999999999999\r\n" +
	"a=rtpmap:256 PCMU/8000\r\n" +
	"a=ssrc:99999999999999999999 cname:x\r\n" +
	"a=extmap:99999999999 urn:x\r\n" +
	"a=candidate:1 99999999999 udp 99999999999 127.0.0.1 99999999 typ host\r\n" +
	"a=sendonly\r\n"

func TestReadAnswerAcceptsARealAnswerWithoutCandidates(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	s := newTestSession(t, e, SessionConfig{})
	real := newAnsweringPeer(t, s.Blob().Offer, 2).answer
	if _, err := readAnswer([]byte(real), MinAudioSections); err != nil {
		t.Fatalf("real answer: %v\n%s", err, real)
	}
	// Browsers answer before gathering; the bot learns their address from
	// their ICE checks (the README's "The media blob").
	trickle := withoutLines(real, "a=candidate:", "a=end-of-candidates")
	if strings.Contains(string(trickle), "candidate") {
		t.Fatal("candidates left in the trickle answer")
	}
	if _, err := readAnswer(trickle, MinAudioSections); err != nil {
		t.Errorf("answer without candidates: %v", err)
	}
	if _, err := readAnswer([]byte(hugeNumbersAnswer), 1); !errors.Is(err, ErrBadSDP) {
		t.Errorf("huge numbers: %v, want ErrBadSDP", err)
	}
}

// Whatever the media processor POSTs, readAnswer and Session.Answer never
// panic; an answer refused as bad SDP leaves the session able to take a good
// one (a 400 does not consume the session).
func FuzzReadAnswer(f *testing.F) {
	e := newTestEngine(f, EngineConfig{})
	seed := newTestSession(f, e, SessionConfig{})
	real := newAnsweringPeer(f, seed.Blob().Offer, 1).answer
	f.Add([]byte(real))
	f.Add([]byte(""))
	f.Add([]byte(real[:len(real)/2]))
	f.Add([]byte(hugeNumbersAnswer))
	f.Add(withoutLines(real, "a=candidate:", "a=end-of-candidates"))
	f.Add(withoutLines(real, "a=fingerprint:"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		if _, err := readAnswer(answer, MinAudioSections); err != nil {
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("readAnswer: %v is not ErrBadSDP", err)
			}
			return
		}
		s, err := e.NewSession(SessionConfig{AudioSections: MinAudioSections, AnswerTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		refused := s.Answer(s.Blob().Token, answer)
		if refused == nil {
			return
		}
		if !errors.Is(refused, ErrBadSDP) {
			t.Fatalf("Answer: %v is not ErrBadSDP", refused)
		}
		if err := s.Answer(s.Blob().Token, []byte(real)); err != nil {
			t.Fatalf("a refused answer (%v) consumed the session: %v", refused, err)
		}
	})
}
