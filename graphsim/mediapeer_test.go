package graphsim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/mediasession"
)

type collect struct {
	mu     sync.Mutex
	pcm    map[uint32][]int16
	tracks map[uint32]*mediasession.Track
}

func (c *collect) Frame(f *audio.Frame) {
	c.mu.Lock()
	c.pcm[f.SSRC] = append(c.pcm[f.SSRC], f.PCM...)
	c.mu.Unlock()
}

// decode decodes each track of call callID at 16 kHz into c.
func (c *collect) decode(t *testing.T, callID string) func(*mediasession.Track) mediasession.PacketHandler {
	return func(tr *mediasession.Track) mediasession.PacketHandler {
		c.mu.Lock()
		c.tracks[tr.SSRC] = tr
		c.mu.Unlock()
		s, err := audio.NewStream(audio.StreamConfig{CallID: callID, SSRC: tr.SSRC, MimeType: tr.MimeType,
			ClockRate: tr.ClockRate, SampleRate: 16000, Consumer: c})
		if err != nil {
			t.Error(err)
			return nil
		}
		return s
	}
}

// played is what a bot session received from a media peer.
type played struct {
	peer *mediaPeer
	got  *collect
}

// playToSession connects a media peer, one speaker per codec, to a real bot
// session over real UDP on loopback, sends frames 20 ms packets of each
// voice in its speaker's codec, and returns once the session has closed.
func playToSession(t *testing.T, codecs []sendCodec, voices []Voice, frames int) played {
	t.Helper()
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{BindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", engine.AnswerHandler())
	srv := httptest.NewServer(r)
	defer srv.Close()

	got := &collect{pcm: map[uint32][]int16{}, tracks: map[uint32]*mediasession.Track{}}
	var connected time.Time
	sess, err := engine.NewSession(mediasession.SessionConfig{
		CallID:        "call-1",
		AudioSections: 4,
		AnswerURI:     func(id string) string { return srv.URL + "/media/sessions/" + id + "/answer" },
		OnConnected:   func(at time.Time) { connected = at },
		OnTrack:       got.decode(t, "call-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := newMediaAPI()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := connectMedia(context.Background(), api, sess.Blob(), codecs, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.waitConnected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	packets := make([][][]byte, len(voices))
	for i, v := range voices {
		enc, err := codecs[i].encode(v, frames)
		if err != nil {
			t.Fatal(err)
		}
		packets[i] = enc.payloads
	}
	for n := range frames {
		for i := range voices {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n) * codecs[i].step}, Payload: packets[i][n]}
			if err := peer.send(i, pkt); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	peer.close()
	sess.Close() // flushes every stream
	if connected.IsZero() {
		t.Error("OnConnected was not called")
	}
	return played{peer: peer, got: got}
}

// checkVoices checks that speaker i's SSRC carried voices[i], decoded.
func checkVoices(t *testing.T, p played, voices []Voice, frames int) {
	t.Helper()
	cands := make([]float64, len(voices))
	for i, v := range voices {
		cands[i] = v.FundamentalHz
	}
	for i, ssrc := range p.peer.ssrcs {
		pcm := p.got.pcm[ssrc]
		if len(pcm) < 16000*frames*20/1000*9/10 {
			t.Fatalf("speaker %d: %d samples, want about %d", i, len(pcm), 16000*frames*20/1000)
		}
		if d := audiotest.Dominant(pcm[1600:], 16000, cands); d != i {
			t.Errorf("speaker %d: dominant %v Hz, want %v Hz", i, cands[d], cands[i])
		}
	}
}

// The media peer answers a real blob over real UDP on loopback, and each
// speaker's voice arrives, decoded, on its own SSRC.
func TestMediaPeerSendsEachSpeakerOnItsOwnSection(t *testing.T) {
	voices := []Voice{{FundamentalHz: 300}, {FundamentalHz: 520}, {FundamentalHz: 810}}
	const frames = 50
	p := playToSession(t, []sendCodec{opusSend, opusSend, opusSend}, voices, frames)
	checkVoices(t, p, voices, frames)
}

// A phone speaker's section is answered with PCMU alone, the bot's track
// reports PCMU at 8000 Hz, and its voice arrives through the bot's G.711
// decoder beside a Teams user's Opus.
func TestMediaPeerSendsAPhoneSpeakerAsPCMU(t *testing.T) {
	voices := []Voice{{FundamentalHz: 300}, {FundamentalHz: 500}}
	const frames = 50
	p := playToSession(t, []sendCodec{opusSend, pcmuSend}, voices, frames)
	checkVoices(t, p, voices, frames)

	var answer sdp.SessionDescription
	if err := answer.UnmarshalString(p.peer.pc.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	wantFormats := [][]string{{"111"}, {"0"}}
	for i, want := range wantFormats {
		md := answer.MediaDescriptions[i]
		if got := md.MediaName.Formats; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("answer section %d: formats %v, want %v", i, got, want)
		}
	}
	if rtpmap, _ := answer.MediaDescriptions[1].Attribute("rtpmap"); rtpmap != "0 PCMU/8000" && rtpmap != "0 PCMU/8000/1" {
		t.Errorf("phone section rtpmap %q, want 0 PCMU/8000", rtpmap)
	}

	wantTracks := []struct {
		mime  string
		clock int
	}{{"audio/opus", 48000}, {"audio/PCMU", 8000}}
	for i, want := range wantTracks {
		tr := p.got.tracks[p.peer.ssrcs[i]]
		if tr == nil {
			t.Fatalf("speaker %d: no track", i)
		}
		if tr.MimeType != want.mime || tr.ClockRate != want.clock {
			t.Errorf("speaker %d: track %s/%d, want %s/%d", i, tr.MimeType, tr.ClockRate, want.mime, want.clock)
		}
	}
}
