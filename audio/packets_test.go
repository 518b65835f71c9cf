package audio

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// levelPacket wraps payload in RTP at the sender's position with the RFC
// 6464 audio level extension (id 1, one-byte form) saying level -dBov.
func (s *sender) levelPacket(payload []byte, level uint8) []byte {
	s.t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: testSSRC}, Payload: payload}
	if err := p.SetExtension(1, []byte{0x80 | level}); err != nil {
		s.t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		s.t.Fatal(err)
	}
	s.seq++
	s.ts += opusClock * FrameMs / 1000
	return b
}

// newOpusStream is a test call's Opus stream, configured further by cfg.
func newOpusStream(t *testing.T, cfg StreamConfig) *Stream {
	t.Helper()
	cfg.CallID, cfg.SSRC, cfg.MimeType, cfg.ClockRate, cfg.MediaStart = testCall, testSSRC, "audio/opus", opusClock, mediaStart
	st, err := NewStream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// drainAll takes every frame out of r.
func drainAll(r *Ring) []Frame {
	var out []Frame
	r.Drain(func(f *Frame) {
		g := *f
		g.Payload = append([]byte(nil), f.Payload...)
		g.PCM = append([]int16(nil), f.PCM...)
		out = append(out, g)
	})
	return out
}

// A stream nobody decodes passes its packets on as received, in order, on
// the media clock, with their duration and the sender's level; a gap in
// the packets (DTX, a loss) stays a gap in media time, concealed by
// nothing.
func TestStreamPassesPacketsOnUndecoded(t *testing.T) {
	packets := NewPacketRing(64)
	st := newOpusStream(t, StreamConfig{SampleRate: 16000, PacketRings: []*Ring{packets}, AudioLevelID: 1})
	snd := newSender(t)
	var sent [][]byte
	for i := range 10 {
		if i == 5 {
			snd.ts += 25 * opusClock * FrameMs / 1000 // half a second of DTX
		}
		payload := snd.payload(FrameMs)
		sent = append(sent, payload)
		st.Push(snd.levelPacket(payload, uint8(20+i)), arrival(i))
	}
	st.Flush()
	got := drainAll(packets)
	if len(got) != 10 {
		t.Fatalf("%d packet frames, want 10", len(got))
	}
	for i, f := range got {
		wantMs := int64(500 + i*FrameMs)
		if i >= 5 {
			wantMs += 500
		}
		switch {
		case !bytes.Equal(f.Payload, sent[i]):
			t.Errorf("packet %d: payload changed", i)
		case f.PCM != nil || f.Concealed:
			t.Errorf("packet %d: decoded or concealed", i)
		case f.MediaTimeMs != wantMs:
			t.Errorf("packet %d at %d ms, want %d", i, f.MediaTimeMs, wantMs)
		case f.Duration != FrameMs*time.Millisecond:
			t.Errorf("packet %d: %v long, want 20ms", i, f.Duration)
		case !f.HasLevel || f.Level != uint8(20+i):
			t.Errorf("packet %d: level %d (has %v), want %d", i, f.Level, f.HasLevel, 20+i)
		case f.MimeType != "audio/opus" || f.SSRC != testSSRC:
			t.Errorf("packet %d: %s, ssrc %d", i, f.MimeType, f.SSRC)
		}
	}
	if s := st.Stats(); s.ConcealedPLC+s.ConcealedFEC != 0 || s.Packets != 10 {
		t.Errorf("stats %+v: want 10 packets, nothing concealed", s)
	}
}

// A stream some consumers decode and others take as packets feeds both,
// and its decoded frames carry the packets' levels.
func TestStreamDecodesAndPassesPackets(t *testing.T) {
	frames, packets := NewRingOf(64, 320), NewPacketRing(64)
	st := newOpusStream(t, StreamConfig{SampleRate: 16000, Rings: []*Ring{frames}, PacketRings: []*Ring{packets}, AudioLevelID: 1})
	snd := newSender(t)
	for i := range 8 {
		st.Push(snd.levelPacket(snd.payload(FrameMs), 33), arrival(i))
	}
	st.Flush()
	pf, ff := drainAll(packets), drainAll(frames)
	if len(pf) != 8 || len(ff) != 8 {
		t.Fatalf("%d packet frames and %d decoded, want 8 of each", len(pf), len(ff))
	}
	for i := range ff {
		if len(ff[i].PCM) != 320 || !ff[i].HasLevel || ff[i].Level != 33 || ff[i].MediaTimeMs != pf[i].MediaTimeMs {
			t.Errorf("frame %d: %d samples, level %d/%v at %d ms; packet at %d ms", i, len(ff[i].PCM), ff[i].Level, ff[i].HasLevel, ff[i].MediaTimeMs, pf[i].MediaTimeMs)
		}
	}
}

// Held by a closed gate, packet frames wait like decoded ones and go out
// in order once it opens.
func TestStreamHoldsPacketsUntilTheGateOpens(t *testing.T) {
	packets := NewPacketRing(64)
	open := false
	st := newOpusStream(t, StreamConfig{SampleRate: 16000, PacketRings: []*Ring{packets}, Hold: func() bool { return open }, HoldFrames: 50})
	snd := newSender(t)
	for i := range 6 {
		if i == 4 {
			open = true
		}
		st.Push(snd.next(FrameMs), arrival(i))
		if i == 3 && packets.Len() != 0 {
			t.Fatalf("%d packets passed a closed gate", packets.Len())
		}
	}
	got := drainAll(packets)
	if len(got) != 6 {
		t.Fatalf("%d packets after the gate opened, want 6", len(got))
	}
	for i, f := range got {
		if f.Seq != got[0].Seq+uint16(i) {
			t.Errorf("packet %d: seq %d, out of order", i, f.Seq)
		}
	}
}

// Passing packets on costs no allocation per packet.
func TestStreamPassthroughDoesNotAllocate(t *testing.T) {
	packets := NewPacketRing(64)
	st := newOpusStream(t, StreamConfig{SampleRate: 16000, PacketRings: []*Ring{packets}, AudioLevelID: 1})
	snd := newSender(t)
	payload := snd.payload(FrameMs)
	pkts := make([][]byte, 200)
	for i := range pkts {
		pkts[i] = snd.levelPacket(payload, 30)
	}
	i := 0
	n := testing.AllocsPerRun(150, func() {
		st.Push(pkts[i], arrival(i))
		packets.Drain(func(*Frame) {})
		i++
	})
	if n != 0 {
		t.Errorf("Push (passthrough) allocates %.1f times per packet", n)
	}
}
