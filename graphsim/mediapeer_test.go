package graphsim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/mediasession"
)

type collect struct {
	mu  sync.Mutex
	pcm map[uint32][]int16
}

func (c *collect) Frame(f *audio.Frame) {
	c.mu.Lock()
	c.pcm[f.SSRC] = append(c.pcm[f.SSRC], f.PCM...)
	c.mu.Unlock()
}

// The media peer answers a real blob over real UDP on loopback, and each
// speaker's voice arrives, decoded, on its own SSRC.
func TestMediaPeerSendsEachSpeakerOnItsOwnSection(t *testing.T) {
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{BindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", engine.AnswerHandler())
	srv := httptest.NewServer(r)
	defer srv.Close()

	got := &collect{pcm: map[uint32][]int16{}}
	var wg sync.WaitGroup
	var connected time.Time
	sess, err := engine.NewSession(mediasession.SessionConfig{
		CallID:        "call-1",
		AudioSections: 4,
		AnswerURI:     func(id string) string { return srv.URL + "/media/sessions/" + id + "/answer" },
		OnConnected:   func(at time.Time) { connected = at },
		OnTrack: func(tr *mediasession.Track) {
			s, err := audio.NewStream(audio.StreamConfig{CallID: "call-1", SSRC: tr.SSRC, MimeType: tr.MimeType,
				ClockRate: tr.ClockRate, SampleRate: 16000, Consumer: got})
			if err != nil {
				t.Error(err)
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = s.Run(tr) }()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := newMediaAPI()
	if err != nil {
		t.Fatal(err)
	}
	voices := []Voice{{FundamentalHz: 300}, {FundamentalHz: 520}, {FundamentalHz: 810}}
	peer, err := connectMedia(context.Background(), api, sess.Blob(), len(voices), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.waitConnected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	const frames = 50
	packets := make([][][]byte, len(voices))
	for i, v := range voices {
		if packets[i], err = v.EncodeOpus(frames); err != nil {
			t.Fatal(err)
		}
	}
	for n := range frames {
		for i := range voices {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n * opusFrame)}, Payload: packets[i][n]}
			if err := peer.send(i, pkt); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	peer.close()
	sess.Close()
	wg.Wait()
	if connected.IsZero() {
		t.Error("OnConnected was not called")
	}
	cands := []float64{300, 520, 810}
	for i, ssrc := range peer.ssrcs {
		pcm := got.pcm[ssrc]
		if len(pcm) < 16000*frames*20/1000*9/10 {
			t.Fatalf("speaker %d: %d samples, want about %d", i, len(pcm), 16000*frames*20/1000)
		}
		if d := audiotest.Dominant(pcm[1600:], 16000, cands); d != i {
			t.Errorf("speaker %d: dominant %v Hz, want %v Hz", i, cands[d], cands[i])
		}
	}
}
