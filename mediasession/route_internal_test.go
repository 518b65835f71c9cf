package mediasession

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var (
	testMasterKey  = bytes.Repeat([]byte{0x5a}, 16)
	testMasterSalt = bytes.Repeat([]byte{0xa5}, 14)
)

const testProfile = srtp.ProtectionProfileAes128CmHmacSha1_80

// peer encrypts RTP as the remote side of a route does.
type peer struct {
	t   testing.TB
	ctx *srtp.Context
	seq map[uint32]uint16
}

func newPeer(t testing.TB) *peer {
	ctx, err := srtp.CreateContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	return &peer{t: t, ctx: ctx, seq: map[uint32]uint16{}}
}

// packet is the next SRTP packet of ssrc.
func (p *peer) packet(ssrc uint32, pt uint8, payload []byte) []byte {
	p.t.Helper()
	p.seq[ssrc]++
	h := rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq[ssrc], Timestamp: uint32(p.seq[ssrc]) * 960, SSRC: ssrc}
	plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := p.ctx.EncryptRTP(nil, plain, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// rtcp is the SRTCP packet of the compound packets.
func (p *peer) rtcp(packets ...rtcp.Packet) []byte {
	p.t.Helper()
	plain, err := rtcp.Marshal(packets)
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := p.ctx.EncryptRTCP(nil, plain, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// recorder is a consumer that keeps what its tracks receive.
type recorder struct {
	tracks   []Track
	refuse   bool
	payloads map[uint32][][]byte
	flushed  map[uint32]int
}

func (r *recorder) onTrack(t *Track) PacketHandler {
	r.tracks = append(r.tracks, *t)
	if r.refuse {
		return nil
	}
	return &recordedTrack{r: r, ssrc: t.SSRC}
}

type recordedTrack struct {
	r    *recorder
	ssrc uint32
}

func (h *recordedTrack) Push(b []byte, _ time.Time) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		panic("a track got a packet that is not RTP: " + err.Error())
	}
	h.r.payloads[h.ssrc] = append(h.r.payloads[h.ssrc], bytes.Clone(p.Payload))
}

func (h *recordedTrack) Flush() { h.r.flushed[h.ssrc]++ }

// newTestRoute is a connected route declaring ssrcs, taking up to maxTracks.
func newTestRoute(t testing.TB, declared []uint32, maxTracks int) (*route, *recorder, *portCounters) {
	ctx, err := receiveContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{payloads: map[uint32][][]byte{}, flushed: map[uint32]int{}}
	counts := &portCounters{}
	return newRoute(ctx, declared, maxTracks, rec.onTrack, counts), rec, counts
}

func stats(c *portCounters) PortStats {
	var s PortStats
	c.addTo(&s)
	return s
}

func TestRouteDecryptsEachSourceIntoItsOwnTrack(t *testing.T) {
	r, rec, counts := newTestRoute(t, []uint32{1, 2}, 4)
	p := newPeer(t)
	for i := range 3 {
		for _, ssrc := range []uint32{1, 2} {
			r.receive(p.packet(ssrc, 111, []byte{byte(ssrc), byte(i)}), time.Now())
		}
	}
	if len(rec.tracks) != 2 || rec.tracks[0].SSRC != 1 || rec.tracks[1].SSRC != 2 {
		t.Fatalf("tracks %+v, want SSRC 1 then 2", rec.tracks)
	}
	if tr := rec.tracks[0]; tr.MimeType != "audio/opus" || tr.ClockRate != 48000 || tr.PayloadType != 111 {
		t.Errorf("track %+v, want audio/opus at 48 kHz, payload type 111", tr)
	}
	for _, ssrc := range []uint32{1, 2} {
		got := rec.payloads[ssrc]
		if len(got) != 3 {
			t.Fatalf("SSRC %d: %d packets, want 3", ssrc, len(got))
		}
		for i, pl := range got {
			if !bytes.Equal(pl, []byte{byte(ssrc), byte(i)}) {
				t.Errorf("SSRC %d packet %d: payload %x, want the plaintext", ssrc, i, pl)
			}
		}
	}
	if s := stats(counts); s != (PortStats{SRTP: 6}) {
		t.Errorf("counters %+v, want 6 delivered", s)
	}
}

func TestRouteCountsAndDropsWhatItCannotTrust(t *testing.T) {
	r, rec, counts := newTestRoute(t, []uint32{1}, 1)
	p := newPeer(t)
	good := p.packet(1, 111, []byte("first"))
	replay := bytes.Clone(good)
	r.receive(good, time.Now())

	forged := p.packet(1, 111, []byte("forged"))
	forged[len(forged)-11] ^= 1 // a payload byte: the tag no longer matches
	r.receive(forged, time.Now())
	r.receive(replay, time.Now())
	garbage := append([]byte{0x80, 111}, bytes.Repeat([]byte{0xee}, 10)...)
	garbage[8], garbage[9], garbage[10], garbage[11] = 0, 0, 0, 1 // SSRC 1, but no valid tag
	r.receive(garbage, time.Now())

	r.receive(p.packet(9, 111, []byte("past the limit")), time.Now())
	r.receive([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0}, time.Now()) // a sender report, not SRTCP
	sr := p.rtcp(&rtcp.SenderReport{SSRC: 1, NTPTime: 1 << 40})
	r.receive(bytes.Clone(sr), time.Now())
	r.receive(sr, time.Now()) // again: a replay

	want := PortStats{SRTP: 1, Undecryptable: 3, Replayed: 2, UnknownSSRC: 1, RTCP: 1}
	if s := stats(counts); s != want {
		t.Errorf("counters %+v, want %+v", s, want)
	}
	if len(rec.tracks) != 1 || len(rec.payloads[1]) != 1 || string(rec.payloads[1][0]) != "first" {
		t.Errorf("tracks %+v with %q: want only the honest packet", rec.tracks, rec.payloads[1])
	}
	r.receive(p.packet(1, 111, []byte("after")), time.Now())
	if got := len(rec.payloads[1]); got != 2 {
		t.Errorf("%d packets after the bad ones, want the stream to go on", got)
	}
}

func TestRouteTakesUndeclaredSourcesUpToItsLimit(t *testing.T) {
	r, rec, counts := newTestRoute(t, []uint32{1}, 2)
	p := newPeer(t)
	for _, ssrc := range []uint32{7, 8, 1} {
		r.receive(p.packet(ssrc, 111, []byte{1}), time.Now())
	}
	if len(rec.tracks) != 2 || rec.tracks[0].SSRC != 7 || rec.tracks[1].SSRC != 1 {
		t.Errorf("tracks %+v, want the first undeclared source and the declared one", rec.tracks)
	}
	if s := stats(counts); s != (PortStats{SRTP: 2, UnknownSSRC: 1}) {
		t.Errorf("counters %+v", s)
	}
}

func TestRouteStartsATrackOnlyInAnOfferedCodec(t *testing.T) {
	r, rec, counts := newTestRoute(t, []uint32{1}, 1)
	p := newPeer(t)
	r.receive(p.packet(1, 96, []byte("not offered")), time.Now())
	if len(rec.tracks) != 0 {
		t.Fatalf("tracks %+v from a payload type the offer did not carry", rec.tracks)
	}
	r.receive(p.packet(1, 0, []byte("pcmu")), time.Now())
	if len(rec.tracks) != 1 || rec.tracks[0].MimeType != "audio/PCMU" || rec.tracks[0].ClockRate != 8000 {
		t.Errorf("tracks %+v, want one PCMU track", rec.tracks)
	}
	if s := stats(counts); s != (PortStats{SRTP: 1, UnknownSSRC: 1}) {
		t.Errorf("counters %+v", s)
	}
}

func TestRouteStopsDeliveringATrackTheConsumerRefused(t *testing.T) {
	r, rec, counts := newTestRoute(t, []uint32{1}, 1)
	rec.refuse = true
	p := newPeer(t)
	for range 3 {
		r.receive(p.packet(1, 111, []byte{1}), time.Now())
	}
	if len(rec.tracks) != 1 {
		t.Errorf("consumer asked %d times, want once", len(rec.tracks))
	}
	if s := stats(counts); s != (PortStats{UnknownSSRC: 3}) {
		t.Errorf("counters %+v, want all three unknown", s)
	}
}

func TestRoutePlaysEarlyPacketsFirstAndFlushesOnceOnClose(t *testing.T) {
	r, rec, _ := newTestRoute(t, []uint32{1}, 1)
	p := newPeer(t)
	for i := range maxEarlyPackets + 5 {
		r.addEarly(p.packet(1, 111, []byte{byte(i)}), time.Now())
	}
	r.receive(p.packet(1, 111, []byte{0xff}), time.Now())
	got := rec.payloads[1]
	if len(got) != maxEarlyPackets+1 {
		t.Fatalf("%d packets, want the %d kept early ones and the live one", len(got), maxEarlyPackets)
	}
	for i := range maxEarlyPackets {
		if got[i][0] != byte(i) {
			t.Fatalf("packet %d is early packet %d: out of order", i, got[i][0])
		}
	}
	if got[maxEarlyPackets][0] != 0xff {
		t.Errorf("the live packet is not last")
	}
	r.close()
	r.close()
	r.receive(p.packet(1, 111, []byte{0xfe}), time.Now())
	if rec.flushed[1] != 1 {
		t.Errorf("flushed %d times, want once", rec.flushed[1])
	}
	if len(rec.payloads[1]) != maxEarlyPackets+1 {
		t.Errorf("a packet was delivered after close")
	}
}

// countingTrack counts without allocating, for the allocation test.
type countingTrack struct{ n int }

func (c *countingTrack) Push([]byte, time.Time) { c.n++ }
func (c *countingTrack) Flush()                 {}

func TestRouteReceiveDoesNotAllocate(t *testing.T) {
	const runs = 200
	r, _, _ := newTestRoute(t, []uint32{1}, 1)
	track := &countingTrack{}
	r.onTrack = func(*Track) PacketHandler { return track }
	p := newPeer(t)
	packets := make([][]byte, runs+2)
	for i := range packets {
		packets[i] = p.packet(1, 111, bytes.Repeat([]byte{byte(i)}, 80))
	}
	r.receive(packets[0], time.Now()) // the track starts: that may allocate
	next := 1
	allocs := testing.AllocsPerRun(runs, func() {
		r.receive(packets[next], time.Now())
		next++
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet, want 0", allocs)
	}
	if track.n != next {
		t.Errorf("%d packets delivered, want %d", track.n, next)
	}
}

// FuzzRouteReceive feeds a connected route arbitrary packets, as the port
// hands it anything from the peer's address that looks like RTP: each is
// counted exactly once, and the honest stream after it is still delivered.
func FuzzRouteReceive(f *testing.F) {
	p := newPeer(f)
	f.Add(p.packet(1, 111, []byte("opus")))
	f.Add(p.packet(3, 0, []byte("pcmu")))
	f.Add([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0x9f, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}) // 15 CSRCs promised, none there
	f.Add([]byte{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !isSRTPOrSRTCP(b) {
			return
		}
		r, rec, counts := newTestRoute(t, []uint32{1, 2}, 3)
		r.receive(b, time.Now())
		s := stats(counts)
		if s.SRTP+s.RTCP+s.Undecryptable+s.Replayed+s.UnknownSSRC != 1 {
			t.Fatalf("counters %+v for one packet", s)
		}
		honest := newPeer(t)
		honest.seq[2] = 1000
		r.receive(honest.packet(2, 111, []byte("after")), time.Now())
		if n := len(rec.payloads[2]); n != 1 {
			t.Fatalf("the honest packet after a hostile one: %d delivered", n)
		}
	})
}

// BenchmarkRouteReceive is the bot's share of a packet before the decoder:
// the route lookup by SSRC, SRTP authentication and decryption, and the
// replay check, for a 20 ms Opus packet of 80 bytes.
func BenchmarkRouteReceive(b *testing.B) {
	r, _, _ := newTestRoute(b, []uint32{1}, 1)
	track := &countingTrack{}
	r.onTrack = func(*Track) PacketHandler { return track }
	p := newPeer(b)
	payload := bytes.Repeat([]byte{0x42}, 80)
	batch := make([][]byte, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; {
		b.StopTimer()
		for j := range batch {
			batch[j] = p.packet(1, 111, payload)
		}
		b.StartTimer()
		for j := 0; j < len(batch) && i < b.N; j, i = j+1, i+1 {
			r.receive(batch[j], time.Now())
		}
	}
	if track.n != b.N {
		b.Fatalf("%d of %d packets delivered", track.n, b.N)
	}
}
