package audio

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/event"
)

// FrameMs is the duration of every delivered frame.
const FrameMs = 20

// maxRTPPacket is the receive buffer of a stream: one MTU.
const maxRTPPacket = 1500

// PacketReader is where a stream's RTP packets come from (a WebRTC track).
// Read fills b with one packet and returns its length.
type PacketReader interface {
	Read(b []byte) (int, error)
}

// StreamConfig describes one remote audio stream.
type StreamConfig struct {
	CallID     string
	SSRC       uint32
	MimeType   string // audio/opus
	ClockRate  int    // RTP clock, 48000 for Opus
	SampleRate int    // output rate: 16000 or 48000
	// MediaStart is the origin of the call's media clock.
	MediaStart time.Time
	// Participant names the speaker of a source id (CSRC, else SSRC); it
	// returns "" while no roster names it. Called once per frame.
	Participant func(sourceID uint32) string
	// Consumer receives every frame.
	Consumer FrameConsumer
	// Now is the arrival clock; nil is time.Now.
	Now func() time.Time
}

// Stream decodes one remote audio stream into frames on the media clock.
// Push and Run are for one goroutine; Stats may be read from any after Run
// returns.
type Stream struct {
	cfg      StreamConfig
	dec      *OpusDecoder
	pkt      rtp.Packet
	buf      []byte
	frame    Frame
	frameLen int // samples per 20 ms frame at the output rate

	// pend holds the start of a frame that packets shorter than a frame
	// (10 ms, 2.5 ms…) have not filled yet; cap frameLen.
	pend     []int16
	pendTS   uint32 // RTP timestamp of pend's first sample
	pendMs   int64  // media time of pend's first sample
	pendNext int64  // unwrapped RTP timestamp just past the last decoded packet

	started     bool
	highestSeq  uint16
	baseTS      uint32 // first packet's RTP timestamp
	baseMediaMs int64  // first packet's place on the media clock
	extTS       int64  // unwrapped RTP timestamp of the newest packet
	lastTS      uint32
	jitter      float64 // RFC 3550 interarrival jitter, in RTP clock units
	lastTransit float64
	counters    event.StreamCounters
}

// NewStream prepares a stream; it allocates everything the packets need.
func NewStream(cfg StreamConfig) (*Stream, error) {
	if !strings.EqualFold(cfg.MimeType, "audio/opus") {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, cfg.MimeType)
	}
	dec, err := NewOpusDecoder(cfg.SampleRate)
	if err != nil {
		return nil, err
	}
	if cfg.ClockRate <= 0 {
		cfg.ClockRate = 48000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Stream{
		cfg:      cfg,
		dec:      dec,
		buf:      make([]byte, maxRTPPacket),
		frameLen: cfg.SampleRate * FrameMs / 1000,
		pend:     make([]int16, 0, cfg.SampleRate*FrameMs/1000),
	}, nil
}

// Run reads packets until the reader fails (the track ended) and returns
// that error.
func (s *Stream) Run(r PacketReader) error {
	for {
		n, err := r.Read(s.buf)
		if err != nil {
			return err
		}
		s.Push(s.buf[:n], s.cfg.Now())
	}
}

// Push takes one RTP packet that arrived at arrival. Garbage is counted as a
// decode error and dropped; packets older than the newest are counted as
// late and dropped.
func (s *Stream) Push(b []byte, arrival time.Time) {
	if err := s.pkt.Unmarshal(b); err != nil {
		s.counters.DecodeErrors++
		return
	}
	s.counters.Packets++
	seq, ts := s.pkt.SequenceNumber, s.pkt.Timestamp
	if !s.started {
		s.started = true
		s.highestSeq = seq
		s.baseTS, s.lastTS = ts, ts
		s.baseMediaMs = arrival.Sub(s.cfg.MediaStart).Milliseconds()
		if s.cfg.MediaStart.IsZero() || s.baseMediaMs < 0 {
			s.baseMediaMs = 0
		}
	} else {
		delta := int16(seq - s.highestSeq)
		switch {
		case delta == 0:
			s.counters.Duplicates++
			return
		case delta < 0:
			s.counters.Late++
			return
		case delta > 1:
			s.counters.Lost += uint64(delta - 1)
		}
		s.highestSeq = seq
		s.extTS += int64(int32(ts - s.lastTS))
		s.lastTS = ts
	}
	s.updateJitter(arrival)

	pcm, err := s.dec.Decode(s.pkt.Payload)
	if err != nil {
		s.counters.DecodeErrors++
		return
	}
	s.emit(pcm, seq, ts, arrival)
}

// emit cuts decoded samples into 20 ms frames placed by RTP timestamp on the
// media clock. Samples short of a frame wait in pend for the next packet; if
// that packet does not continue them (loss, DTX, another speaker), the
// partial frame is completed with silence and delivered first. A frame built
// from several packets carries the Seq and Arrival of the one that completed
// it.
func (s *Stream) emit(pcm []int16, seq uint16, ts uint32, arrival time.Time) {
	var csrc uint32
	if len(s.pkt.CSRC) > 0 {
		csrc = s.pkt.CSRC[0]
	}
	f := &s.frame
	if len(s.pend) > 0 && (s.extTS != s.pendNext || csrc != f.CSRC) {
		s.flushPending() // f still describes the packets pend came from
	}
	f.CallID = s.cfg.CallID
	f.SSRC = s.cfg.SSRC
	f.CSRC = csrc
	f.Seq = seq
	f.Arrival = arrival
	f.SampleRate = s.cfg.SampleRate
	f.Concealed = false
	if s.cfg.Participant != nil {
		f.ParticipantID = s.cfg.Participant(f.SourceID())
	}
	k := 0
	if len(s.pend) > 0 {
		k = copy(s.pend[len(s.pend):s.frameLen], pcm)
		s.pend = s.pend[:len(s.pend)+k]
		if len(s.pend) == s.frameLen {
			s.deliver(s.pendTS, s.pendMs, s.pend)
			s.pend = s.pend[:0]
		}
	}
	for ; k+s.frameLen <= len(pcm); k += s.frameLen {
		fts, ms := s.place(ts, k)
		s.deliver(fts, ms, pcm[k:k+s.frameLen])
	}
	if k < len(pcm) {
		s.pendTS, s.pendMs = s.place(ts, k)
		s.pend = append(s.pend[:0], pcm[k:]...)
	}
	s.pendNext = s.extTS + int64(len(pcm))*int64(s.cfg.ClockRate)/int64(s.cfg.SampleRate)
}

// place returns the RTP timestamp and media time of sample k of the packet
// at ts (the newest packet).
func (s *Stream) place(ts uint32, k int) (uint32, int64) {
	d := int64(k) * int64(s.cfg.ClockRate) / int64(s.cfg.SampleRate)
	return ts + uint32(d), s.baseMediaMs + (s.extTS+d)*1000/int64(s.cfg.ClockRate)
}

// flushPending delivers the partial frame in pend, completed with silence.
func (s *Stream) flushPending() {
	n := len(s.pend)
	s.pend = s.pend[:s.frameLen]
	clear(s.pend[n:])
	s.deliver(s.pendTS, s.pendMs, s.pend)
	s.pend = s.pend[:0]
}

// deliver hands one frame of pcm at ts / ms to the consumer.
func (s *Stream) deliver(ts uint32, ms int64, pcm []int16) {
	f := &s.frame
	f.RTPTimestamp, f.MediaTimeMs, f.PCM = ts, ms, pcm
	s.cfg.Consumer.Frame(f)
}

// updateJitter keeps the RFC 3550 §6.4.1 interarrival jitter estimate.
func (s *Stream) updateJitter(arrival time.Time) {
	transit := float64(arrival.UnixNano())*float64(s.cfg.ClockRate)/1e9 - float64(s.extTS)
	if s.counters.Packets > 1 {
		d := transit - s.lastTransit
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
	}
	s.lastTransit = transit
}

// Stats returns the stream's counters so far.
func (s *Stream) Stats() event.StreamCounters {
	c := s.counters
	c.JitterMs = s.jitter * 1000 / float64(s.cfg.ClockRate)
	return c
}
