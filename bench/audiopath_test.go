package bench

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// corpus is 10 s of a voice-like signal as 20 ms Opus packets (48 kHz mono,
// VoIP, in-band FEC), encoded once; every benchmark decodes the same bytes.
type corpus struct {
	payloads [][]byte
	rtp      [][]byte // RTP packets of the payloads; seq and ts rewritten per use
	leveled  [][]byte // the same with an RFC 6464 audio level (extension id 1)
}

func newCorpus(b *testing.B) *corpus {
	b.Helper()
	payloads, err := graphsim.Voice{FundamentalHz: 180, SyllableHz: 4}.EncodeOpus(500)
	if err != nil {
		b.Fatal(err)
	}
	c := &corpus{payloads: payloads}
	for _, p := range payloads {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 42}, Payload: p}
		raw, err := pkt.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		c.rtp = append(c.rtp, raw)
		if err := pkt.SetExtension(1, []byte{0x80 | 30}); err != nil {
			b.Fatal(err)
		}
		if raw, err = pkt.Marshal(); err != nil {
			b.Fatal(err)
		}
		c.leveled = append(c.leveled, raw)
	}
	return c
}

// packet returns the RTP bytes of the n-th packet of an endless stream: the
// corpus replayed with continuing sequence numbers and timestamps.
func (c *corpus) packet(n int) []byte { return numbered(c.rtp, n) }

// leveledPacket is packet with the sender's audio level.
func (c *corpus) leveledPacket(n int) []byte { return numbered(c.leveled, n) }

func numbered(packets [][]byte, n int) []byte {
	raw := packets[n%len(packets)]
	binary.BigEndian.PutUint16(raw[2:4], uint16(n))
	binary.BigEndian.PutUint32(raw[4:8], uint32(n*960))
	return raw
}

type discard struct{}

func (discard) Frame(*audio.Frame) {}

// pipeline is one stream as the bot runs it: RTP bytes in, frames into a
// ring that a consumer drains in batches.
type pipeline struct {
	stream *audio.Stream
	ring   *audio.Ring
	start  time.Time
}

func newPipeline(b *testing.B) *pipeline { return newPipelineOf(b, false) }

// newPipelineOf is a pipeline that decodes (frames into the ring), or one
// that passes packets on undecoded (packets), as for Ogg Opus recording;
// both read the RFC 6464 audio level of packets that carry it.
func newPipelineOf(b *testing.B, packets bool) *pipeline {
	b.Helper()
	cfg := audio.StreamConfig{CallID: "bench", SSRC: 42, MimeType: "audio/opus", ClockRate: 48000, SampleRate: 16000,
		AudioLevelID: 1, Participant: func(uint32) (string, *event.Identity) { return "p", nil }}
	ring := audio.NewRing(64)
	cfg.Rings = []*audio.Ring{ring}
	if packets {
		ring = audio.NewPacketRing(64)
		cfg.Rings, cfg.PacketRings = nil, []*audio.Ring{ring}
	}
	s, err := audio.NewStream(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return &pipeline{stream: s, ring: ring, start: time.Now()}
}

// push pushes packet raw as the n-th arrival; the ring is drained every 32
// frames, as a drainer does every 10 ms for many streams.
//
// hot path: no alloc.
func (p *pipeline) push(raw []byte, n int) {
	p.stream.Push(raw, p.start.Add(time.Duration(n)*20*time.Millisecond))
	if n%32 == 31 {
		p.ring.Drain(discard{}.Frame)
	}
}

// BenchmarkAudioPath is one op per 20 ms packet, all on the same packets:
// floor is libopus decoding alone (decoder and buffer reused), pipeline is
// our path from RTP bytes to a frame in the sink ring, levels the same
// with packets carrying the sender's RFC 6464 audio level (read per
// packet), passthrough the path when nothing asks for PCM (the packet, not
// decoded, into a packet ring: Ogg Opus recording), naive the obvious
// design (copy per packet, channel hand-off, allocation per decode); ratio
// measures floor and pipeline interleaved to report pipeline/floor, and
// passthrough-ratio floor and passthrough to report passthrough/floor.
func BenchmarkAudioPath(b *testing.B) {
	c := newCorpus(b)
	b.Run("floor", func(b *testing.B) {
		dec := newFloor(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dec.decode(c.payloads[i%len(c.payloads)])
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		p := newPipeline(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.push(c.packet(i), i)
		}
	})
	b.Run("levels", func(b *testing.B) {
		p := newPipeline(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.push(c.leveledPacket(i), i)
		}
	})
	b.Run("passthrough", func(b *testing.B) {
		p := newPipelineOf(b, true)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.push(c.leveledPacket(i), i)
		}
	})
	b.Run("naive", func(b *testing.B) {
		n := startNaive(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n.push(c.packet(i))
		}
		n.stop()
	})
	b.Run("ratio", func(b *testing.B) {
		p := newPipeline(b)
		b.ReportMetric(interleaved(b, newFloor(b), func(i int) { p.push(c.packet(i), i) }, c), "pipeline/floor")
	})
	b.Run("passthrough-ratio", func(b *testing.B) {
		p := newPipelineOf(b, true)
		b.ReportMetric(interleaved(b, newFloor(b), func(i int) { p.push(c.leveledPacket(i), i) }, c), "passthrough/floor")
	})
}

// interleaved runs libopus alone and path one after the other on each
// packet and returns path's time over the floor's.
func interleaved(b *testing.B, dec floor, path func(i int), c *corpus) float64 {
	var floorNs, pathNs int64
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so that neither gains from the
		// other having just warmed the caches with the same packet.
		t0 := time.Now()
		if i%2 == 0 {
			dec.decode(c.payloads[i%len(c.payloads)])
		} else {
			path(i)
		}
		t1 := time.Now()
		if i%2 == 0 {
			path(i)
		} else {
			dec.decode(c.payloads[i%len(c.payloads)])
		}
		t2 := time.Now()
		if i%2 == 0 {
			floorNs, pathNs = floorNs+t1.Sub(t0).Nanoseconds(), pathNs+t2.Sub(t1).Nanoseconds()
		} else {
			pathNs, floorNs = pathNs+t1.Sub(t0).Nanoseconds(), floorNs+t2.Sub(t1).Nanoseconds()
		}
	}
	return float64(pathNs) / float64(floorNs)
}

// BenchmarkStreamsPerCore runs one stream per goroutine on every core and
// reports how many real-time streams (one 20 ms packet each 20 ms) one core
// decodes.
func BenchmarkStreamsPerCore(b *testing.B) {
	c := newCorpus(b)
	b.RunParallel(func(pb *testing.PB) {
		p := newPipeline(b)
		local := make([][]byte, len(c.rtp)) // each goroutine rewrites its own headers
		for i, raw := range c.rtp {
			local[i] = append([]byte(nil), raw...)
		}
		for n := 0; pb.Next(); n++ {
			raw := local[n%len(local)]
			binary.BigEndian.PutUint16(raw[2:4], uint16(n))
			binary.BigEndian.PutUint32(raw[4:8], uint32(n*960))
			p.push(raw, n)
		}
	})
	perPacket := float64(b.Elapsed().Nanoseconds()) / float64(b.N) * float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(float64(20*time.Millisecond)/perPacket, "streams/core")
}

// BenchmarkAudioPathImpaired is the pipeline under 5 % loss and reordering
// within 3 packets: it reports the cost per packet with concealment (FEC
// or PLC) included, and how many packets were concealed per op.
func BenchmarkAudioPathImpaired(b *testing.B) {
	c := newCorpus(b)
	p := newPipeline(b)
	rng := rand.New(rand.NewPCG(4, 2))
	held := make([]int, 0, 4)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if rng.IntN(100) < 5 {
			continue // lost
		}
		held = append(held, i)
		if len(held) < 3 && rng.IntN(2) == 0 {
			continue // held back: arrives after later packets
		}
		for k := len(held) - 1; k >= 0; k-- { // newest first: reordered
			p.push(c.packet(held[k]), i)
		}
		held = held[:0]
	}
	st := p.stream.Stats()
	b.ReportMetric(float64(st.ConcealedFEC+st.ConcealedPLC)/float64(b.N), "concealed/op")
}

// floor is libopus decoding alone.
type floor struct{ dec *audio.OpusDecoder }

func newFloor(b *testing.B) floor {
	b.Helper()
	dec, err := audio.NewOpusDecoder(16000)
	if err != nil {
		b.Fatal(err)
	}
	return floor{dec}
}

func (f floor) decode(payload []byte) {
	if _, err := f.dec.Decode(payload); err != nil {
		panic(err)
	}
}
