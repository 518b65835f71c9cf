package mediasession

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"gopkg.in/hraban/opus.v2"
)

// sineOpus encodes frames of 20 ms of a 440 Hz sine, 48 kHz mono.
func sineOpus(t *testing.T, frames int) [][]byte {
	t.Helper()
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	const frame = 960
	pcm := make([]int16, frame)
	out := make([][]byte, frames)
	for n := range frames {
		for i := range pcm {
			pcm[i] = int16(0.3 * math.MaxInt16 * math.Sin(2*math.Pi*440*float64(n*frame+i)/48000))
		}
		buf := make([]byte, 1000)
		size, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = buf[:size]
	}
	return out
}

// receivedTrack is what the bot saw of one remote track.
type receivedTrack struct {
	track            *Track
	connected        *atomic.Int32
	packets          atomic.Int32
	connectedAtFirst int32 // OnConnected calls when the first packet came
	flushed          atomic.Int32
}

// Push counts the track's decrypted packets: RTP of the track's own SSRC,
// with a payload.
func (rt *receivedTrack) Push(b []byte, _ time.Time) {
	var pkt rtp.Packet
	if pkt.Unmarshal(b) != nil || pkt.SSRC != rt.track.SSRC || len(pkt.Payload) == 0 {
		return
	}
	if rt.packets.Add(1) == 1 {
		rt.connectedAtFirst = rt.connected.Load()
	}
}

func (rt *receivedTrack) Flush() { rt.flushed.Add(1) }

// A media processor that answers and sends Opus on two sections reaches the
// bot as two tracks, each with its sender's SSRC, after OnConnected.
func TestTwoSpeakersArriveAsTwoOpusTracks(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	var (
		connected atomic.Int32
		mu        sync.Mutex
		tracks    []*receivedTrack
	)
	failed := make(chan string, 1)
	s := newTestSession(t, e, SessionConfig{
		ConnectTimeout: 10 * time.Second,
		OnConnected:    func(time.Time) { connected.Add(1) },
		OnFailed:       func(reason string) { failed <- reason },
		OnTrack: func(tr *Track) PacketHandler {
			rt := &receivedTrack{track: tr, connected: &connected}
			mu.Lock()
			tracks = append(tracks, rt)
			mu.Unlock()
			return rt
		},
	})
	peer := newAnsweringPeer(t, s.Blob().Offer, 2)
	if err := s.Answer(s.Blob().Token, []byte(peer.answer)); err != nil {
		t.Fatal(err)
	}
	peer.waitConnected(t, 10*time.Second)

	const frames = 50
	payloads := sineOpus(t, frames)
	for n, payload := range payloads {
		for _, track := range peer.tracks {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n * 960)}, Payload: payload}
			if err := track.WriteRTP(pkt); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	all := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(tracks) != 2 {
			return false
		}
		for _, rt := range tracks {
			if rt.packets.Load() < frames*4/5 {
				return false
			}
		}
		return true
	}
	got := eventually(5*time.Second, all)
	s.Close()

	select {
	case r := <-failed:
		t.Errorf("OnFailed(%q)", r)
	default:
	}
	if !got {
		mu.Lock()
		for _, rt := range tracks {
			t.Logf("track %d: %d packets", rt.track.SSRC, rt.packets.Load())
		}
		mu.Unlock()
		t.Fatalf("want 2 tracks of at least %d packets each", frames*4/5)
	}
	if n := connected.Load(); n != 1 {
		t.Errorf("OnConnected called %d times, want once", n)
	}
	if s.ConnectedAt().IsZero() {
		t.Error("ConnectedAt is zero after media flowed")
	}
	var ssrcs []uint32
	for _, rt := range tracks {
		tr := rt.track
		ssrcs = append(ssrcs, tr.SSRC)
		if tr.MimeType != "audio/opus" || tr.ClockRate != 48000 || tr.PayloadType != 111 {
			t.Errorf("track %d: %s/%d pt %d, want audio/opus/48000 pt 111", tr.SSRC, tr.MimeType, tr.ClockRate, tr.PayloadType)
		}
		if rt.connectedAtFirst != 1 {
			t.Errorf("track %d: first packet came before OnConnected was called", tr.SSRC)
		}
		if n := rt.flushed.Load(); n != 1 {
			t.Errorf("track %d: flushed %d times by Close, want once", tr.SSRC, n)
		}
	}
	slices.Sort(ssrcs)
	want := slices.Clone(peer.ssrcs)
	slices.Sort(want)
	if !slices.Equal(ssrcs, want) || ssrcs[0] == ssrcs[1] {
		t.Errorf("track SSRCs %v, want the senders' %v, distinct", ssrcs, want)
	}
}
