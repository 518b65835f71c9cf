package bench

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// packets are 10 s of a voice-like signal as 20 ms Opus RTP packets, made
// once: every sub-benchmark decodes the same bytes.
func packets(b *testing.B) (payloads, rtpPackets [][]byte) {
	b.Helper()
	payloads, err := graphsim.Voice{FundamentalHz: 180, SyllableHz: 4}.EncodeOpus(500)
	if err != nil {
		b.Fatal(err)
	}
	for i, p := range payloads {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 42}, Payload: p}
		raw, err := pkt.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		rtpPackets = append(rtpPackets, raw)
	}
	return payloads, rtpPackets
}

type discard struct{}

func (discard) Frame(*audio.Frame) {}

// BenchmarkAudioPath is one op per 20 ms packet: floor is libopus alone,
// pipeline is RTP bytes to a delivered frame.
func BenchmarkAudioPath(b *testing.B) {
	payloads, raw := packets(b)
	b.Run("floor", func(b *testing.B) {
		dec, err := audio.NewOpusDecoder(16000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := dec.Decode(payloads[i%len(payloads)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		newStream := func() *audio.Stream {
			s, err := audio.NewStream(audio.StreamConfig{CallID: "bench", SSRC: 42, MimeType: "audio/opus", ClockRate: 48000,
				SampleRate: 16000, Consumer: discard{}, Participant: func(uint32) string { return "p" }})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		s := newStream()
		start := time.Now()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if i%len(raw) == 0 && i > 0 {
				s = newStream() // the sequence starts over: a new stream, as after an SSRC change
			}
			s.Push(raw[i%len(raw)], start.Add(time.Duration(i)*20*time.Millisecond))
		}
	})
}
