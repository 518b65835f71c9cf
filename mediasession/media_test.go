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
	packets          atomic.Int32
	connectedAtFirst int32 // OnConnected calls when the first packet was read
}

// A media processor that answers and sends Opus on two sections reaches the
// bot as two tracks, each with its sender's SSRC, after OnConnected.
func TestTwoSpeakersArriveAsTwoOpusTracks(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	var (
		connected atomic.Int32
		mu        sync.Mutex
		tracks    []*receivedTrack
		readers   sync.WaitGroup
	)
	failed := make(chan string, 1)
	s := newTestSession(t, e, SessionConfig{
		ConnectTimeout: 10 * time.Second,
		OnConnected:    func(time.Time) { connected.Add(1) },
		OnFailed:       func(reason string) { failed <- reason },
		OnTrack: func(tr *Track) {
			rt := &receivedTrack{track: tr}
			mu.Lock()
			tracks = append(tracks, rt)
			mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				buf := make([]byte, 1500)
				for {
					n, err := tr.Read(buf)
					if err != nil {
						return
					}
					var pkt rtp.Packet
					if pkt.Unmarshal(buf[:n]) != nil || pkt.SSRC != tr.SSRC || len(pkt.Payload) == 0 {
						continue
					}
					if rt.packets.Add(1) == 1 {
						rt.connectedAtFirst = connected.Load()
					}
				}
			}()
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
	readers.Wait()

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
			t.Errorf("track %d: first packet read before OnConnected was called", tr.SSRC)
		}
	}
	slices.Sort(ssrcs)
	want := slices.Clone(peer.ssrcs)
	slices.Sort(want)
	if !slices.Equal(ssrcs, want) || ssrcs[0] == ssrcs[1] {
		t.Errorf("track SSRCs %v, want the senders' %v, distinct", ssrcs, want)
	}
}
