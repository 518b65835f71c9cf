package mediasession

import (
	"errors"
	"slices"
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
	// Hostile audio level extension ids: none may crash; the one-byte form
	// has ids 1..14 only.
	levels := newLevelsPeer(f, seed.Blob().Offer, 2).answer
	f.Add([]byte(levels))
	for _, id := range []string{"0", "15", "255", "4096", "x", "-1", "1/sideways", "99999999999999999999", ""} {
		f.Add([]byte(withLevelLine(levels, "a=extmap:"+id+" "+AudioLevelURI+"\r\n")))
		f.Add([]byte(withLevelLine(levels, "a=extmap:"+id+" "+AudioLevelURI+"\r\n", 1)))
	}
	f.Add([]byte(withLevelLine(levels, "a=extmap:1\r\n")))
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

// levelLine is the audio level extmap line pion's answer echoes.
const levelLine = "a=extmap:1 " + AudioLevelURI + "\r\n"

// withLevelLine replaces the audio level extmap line of the answer's
// sections (all when sections is empty) by line; "" removes it.
func withLevelLine(answer, line string, sections ...int) string {
	parts := strings.Split(answer, "m=audio ")
	for i := 1; i < len(parts); i++ {
		if len(sections) == 0 || slices.Contains(sections, i-1) {
			parts[i] = strings.Replace(parts[i], levelLine, line, 1)
		}
	}
	return strings.Join(parts, "m=audio ")
}

// The answer's audio level extmap gives each declared source the id of its
// section (and undeclared sources the id the sections agree on); an answer
// without it, or with an id the one-byte form cannot carry, or one the
// answerer does not send with, gives 0, and the answer is still taken.
func TestReadAnswerTakesTheAudioLevelIDOfEachSection(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	s := newTestSession(t, e, SessionConfig{})
	peer := newLevelsPeer(t, s.Blob().Offer, 2)
	if !strings.Contains(peer.answer, levelLine) || peer.levelID[0] != 1 || peer.levelID[1] != 1 {
		t.Fatalf("pion negotiated ids %v, want 1; answer:\n%s", peer.levelID, peer.answer)
	}
	plain := newAnsweringPeer(t, s.Blob().Offer, 2)
	if strings.Contains(plain.answer, "extmap") {
		t.Fatalf("a peer that knows no extension answered one:\n%s", plain.answer)
	}
	a := peer.answer
	tests := []struct {
		name   string
		answer string
		ssrcs  []uint32
		want   []uint8 // per declared SSRC
		others uint8   // for undeclared sources
	}{
		{"echoed", a, peer.ssrcs, []uint8{1, 1}, 1},
		{"not mapped", plain.answer, plain.ssrcs, []uint8{0, 0}, 0},
		{"another id", withLevelLine(a, "a=extmap:3 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{3, 3}, 3},
		{"sendonly", withLevelLine(a, "a=extmap:1/sendonly "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{1, 1}, 1},
		{"recvonly", withLevelLine(a, "a=extmap:1/recvonly "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
		{"one section without", withLevelLine(a, "", 1), peer.ssrcs, []uint8{1, 0}, 1},
		{"sections disagree", withLevelLine(a, "a=extmap:2 "+AudioLevelURI+"\r\n", 1), peer.ssrcs, []uint8{1, 2}, 0},
		{"id 14", withLevelLine(a, "a=extmap:14 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{14, 14}, 14},
		{"id 0", withLevelLine(a, "a=extmap:0 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
		{"id 15", withLevelLine(a, "a=extmap:15 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
		{"id 255", withLevelLine(a, "a=extmap:255 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
		{"id 4096", withLevelLine(a, "a=extmap:4096 "+AudioLevelURI+"\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
		{"another URI", withLevelLine(a, "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"), peer.ssrcs, []uint8{0, 0}, 0},
	}
	for _, tt := range tests {
		p, err := readAnswer([]byte(tt.answer), MinAudioSections)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		for i, ssrc := range tt.ssrcs {
			r := route{levelIDs: p.levelIDs, levelID: p.levelID}
			if got := r.audioLevelID(ssrc); got != tt.want[i] {
				t.Errorf("%s: source %d of section %d has audio level id %d, want %d", tt.name, ssrc, i, got, tt.want[i])
			}
		}
		if p.levelID != tt.others {
			t.Errorf("%s: undeclared sources have audio level id %d, want %d", tt.name, p.levelID, tt.others)
		}
	}
	// An extmap line that is not one is malformed SDP, refused with 400 as
	// any other; the session stays open for a good answer.
	for _, garbage := range []string{
		"a=extmap:x " + AudioLevelURI + "\r\n",
		"a=extmap:-1 " + AudioLevelURI + "\r\n",
		"a=extmap:1/sideways " + AudioLevelURI + "\r\n",
		"a=extmap:99999999999999999999 " + AudioLevelURI + "\r\n",
		"a=extmap:1\r\n",
		"a=extmap:\r\n",
		"a=extmap:1 %zz\r\n",
	} {
		if _, err := readAnswer([]byte(withLevelLine(a, garbage, 0)), MinAudioSections); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%q: %v, want ErrBadSDP", garbage, err)
		}
		if err := s.Answer(s.Blob().Token, []byte(withLevelLine(a, garbage, 0))); !errors.Is(err, ErrBadSDP) {
			t.Errorf("session took %q: %v", garbage, err)
		}
	}
	if err := s.Answer(s.Blob().Token, []byte(withLevelLine(a, "a=extmap:255 "+AudioLevelURI+"\r\n"))); err != nil {
		t.Errorf("an answer with an audio level id out of range was refused: %v", err)
	}
}
