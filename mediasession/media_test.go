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

// levelTrack keeps the audio level byte of each packet of its track (-1
// when the packet carried none at the track's AudioLevelID).
type levelTrack struct {
	track  *Track
	mu     sync.Mutex
	levels []int
}

func (lt *levelTrack) Push(b []byte, _ time.Time) {
	var h rtp.Header
	if _, err := h.Unmarshal(b); err != nil {
		return
	}
	level := -1
	if ext := h.GetExtension(lt.track.AudioLevelID); lt.track.AudioLevelID != 0 && len(ext) == 1 {
		level = int(ext[0])
	}
	lt.mu.Lock()
	lt.levels = append(lt.levels, level)
	lt.mu.Unlock()
}

func (lt *levelTrack) Flush() {}

// A media processor whose answer takes the audio level extension reaches
// the bot as tracks that say its id, and whose packets carry the level
// under it; one whose answer does not gives tracks with AudioLevelID 0.
func TestTracksSayTheNegotiatedAudioLevelID(t *testing.T) {
	for _, withLevels := range []bool{true, false} {
		e := newTestEngine(t, EngineConfig{})
		var (
			mu     sync.Mutex
			tracks []*levelTrack
		)
		s := newTestSession(t, e, SessionConfig{
			ConnectTimeout: 10 * time.Second,
			OnTrack: func(tr *Track) PacketHandler {
				lt := &levelTrack{track: tr}
				mu.Lock()
				tracks = append(tracks, lt)
				mu.Unlock()
				return lt
			},
		})
		peer := newAnsweringPeer(t, s.Blob().Offer, 2)
		if withLevels {
			peer = newLevelsPeer(t, s.Blob().Offer, 2)
		}
		if err := s.Answer(s.Blob().Token, []byte(peer.answer)); err != nil {
			t.Fatal(err)
		}
		peer.waitConnected(t, 10*time.Second)
		const frames = 20
		for n, payload := range sineOpus(t, frames) {
			for i, track := range peer.tracks {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n * 960)}, Payload: payload}
				if id := peer.levelID[i]; id != 0 {
					// speaker i at -(10+i+n) dBov, voiced on even packets
					level := byte(10 + i + n)
					if n%2 == 0 {
						level |= 0x80
					}
					if err := pkt.Header.SetExtension(id, []byte{level}); err != nil {
						t.Fatal(err)
					}
				}
				if err := track.WriteRTP(pkt); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		if !eventually(5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(tracks) != 2 {
				return false
			}
			for _, lt := range tracks {
				lt.mu.Lock()
				n := len(lt.levels)
				lt.mu.Unlock()
				if n < frames*4/5 {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("levels %v: want 2 tracks of at least %d packets", withLevels, frames*4/5)
		}
		s.Close()
		for _, lt := range tracks {
			i := slices.Index(peer.ssrcs, lt.track.SSRC)
			if i < 0 {
				t.Fatalf("track of SSRC %d, not the peer's %v", lt.track.SSRC, peer.ssrcs)
			}
			if !withLevels {
				if lt.track.AudioLevelID != 0 || slices.ContainsFunc(lt.levels, func(l int) bool { return l >= 0 }) {
					t.Errorf("no levels negotiated: track %d has audio level id %d, levels %v", i, lt.track.AudioLevelID, lt.levels)
				}
				continue
			}
			if lt.track.AudioLevelID != 1 || peer.levelID[i] != 1 {
				t.Errorf("track %d: audio level id %d, the peer sends under %d; want 1", i, lt.track.AudioLevelID, peer.levelID[i])
			}
			for _, l := range lt.levels {
				if l < 0 || l&0x7f < 10+i || l&0x7f >= 10+i+frames {
					t.Errorf("track %d: levels %v, want -(10+%d+n) dBov on each", i, lt.levels, i)
					break
				}
			}
		}
	}
}
