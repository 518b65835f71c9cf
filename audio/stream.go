package audio

import (
	"time"

	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/monotime"
)

// FrameMs is the duration of every delivered frame.
const FrameMs = 20

// Defaults of StreamConfig.
const (
	DefaultMaxWait   = 60 * time.Millisecond
	DefaultConcealMs = 100
)

// StreamConfig describes one remote audio stream.
type StreamConfig struct {
	CallID     string
	SSRC       uint32
	MimeType   string // audio/opus, audio/PCMU or audio/PCMA
	ClockRate  int    // RTP clock: 48000 for Opus, 8000 for G.711
	SampleRate int    // output rate: 16000 or 48000
	// MediaStart is the origin of the call's media clock.
	MediaStart time.Time
	// Participant names the speaker of a source id (CSRC, else SSRC) and
	// their identity; it returns "", nil while no roster names it. Called
	// once per frame on the hot path: it must not lock or allocate.
	Participant func(sourceID uint32) (id string, identity *event.Identity)
	// Rings receive a copy of every decoded frame, one ring per consumer.
	Rings []*Ring
	// PacketRings receive every packet as received, in order, as a packet
	// frame (Payload set, PCM nil), one ring per consumer that takes
	// packets. With no Rings and no Consumer nothing is decoded: the stream
	// passes its packets on, and nothing conceals a loss (a gap stays a
	// gap in the packets' timestamps).
	PacketRings []*Ring
	// AudioLevelID is the id of the RFC 6464 audio level header extension
	// the sender negotiated (0: none): frames then carry each packet's level.
	AudioLevelID uint8
	// Consumer, when set, is also handed every frame synchronously.
	Consumer FrameConsumer
	// OnOverflow is called once, the first time a ring is full.
	OnOverflow func()
	// Hold, when set, keeps frames from the rings until it reports true
	// (a compliance recorder may persist nothing before Graph confirmed
	// recording). Held frames wait, at most HoldFrames of them (the oldest
	// are dropped past that), and go out in order once it opens; frames
	// still held when the stream ends are dropped. Both drops are counted.
	Hold       func() bool
	HoldFrames int
	// MaxWait is how long a gap may hold later packets back before it is
	// concealed (DefaultMaxWait if zero).
	MaxWait time.Duration
	// ConcealMs caps concealment of one loss: past it a gap is silence, not
	// a PLC smear (DefaultConcealMs if zero).
	ConcealMs int
	// Now is the arrival clock; nil is time.Now.
	Now func() time.Time
}

// Stream turns one remote audio stream into frames on the media clock: RTP
// parsed in place, put back in order by a small window, decoded straight to
// the output rate, losses concealed, frames handed to rings. Push and
// Flush are for one goroutine at a time; Stats may be read after Flush.
type Stream struct {
	cfg      StreamConfig
	dec      decoder
	decoding bool // some consumer takes decoded frames
	pkt      rtp.Packet
	win      reorderWindow
	frame    Frame
	packet   Frame      // the packet frame being handed out
	frameLen int        // samples per 20 ms frame at the output rate
	level    audioLevel // of the packet being decoded

	// pend holds the start of a frame that packets shorter than a frame
	// (10 ms, 2.5 ms…) have not filled yet; cap frameLen.
	pend     []int16
	pendTS   uint32 // RTP timestamp of pend's first sample
	pendMs   int64  // media time of pend's first sample
	pendNext int64  // unwrapped RTP timestamp just past the last decoded packet

	ssrc        uint32
	timeStarted bool
	baseMediaMs int64 // media time of the first played packet
	extTS       int64 // unwrapped RTP timestamp of the last played packet
	lastTS      uint32
	lastDur     int64 // RTP clock units of the last packet
	lastCSRC    uint32
	lostRun     int
	overflowed  bool
	held        *Ring  // frames kept back while Hold is closed
	heldPackets *Ring  // packet frames kept back likewise
	holdDropped uint64 // frames dropped from the hold (full, or never released)

	jitStarted  bool
	jitLastTS   uint32
	jitExt      int64
	jitter      float64 // RFC 3550 interarrival jitter, in RTP clock units
	lastTransit float64
	counters    event.StreamCounters
}

// NewStream prepares a stream; it allocates everything its packets need.
func NewStream(cfg StreamConfig) (*Stream, error) {
	dec, err := newDecoder(cfg.MimeType, cfg.SampleRate)
	if err != nil {
		return nil, err
	}
	if cfg.ClockRate <= 0 {
		cfg.ClockRate = 48000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.ConcealMs <= 0 {
		cfg.ConcealMs = DefaultConcealMs
	}
	s := &Stream{
		cfg:      cfg,
		dec:      dec,
		decoding: len(cfg.Rings) > 0 || cfg.Consumer != nil,
		frameLen: cfg.SampleRate * FrameMs / 1000,
		pend:     make([]int16, 0, cfg.SampleRate*FrameMs/1000),
		ssrc:     cfg.SSRC,
		lastDur:  int64(cfg.ClockRate * FrameMs / 1000),
	}
	s.win = newReorderWindow(cfg.MaxWait)
	if cfg.Hold != nil {
		s.held = NewRingOf(max(cfg.HoldFrames, 1), s.frameLen)
		if len(cfg.PacketRings) > 0 {
			s.heldPackets = NewPacketRing(max(cfg.HoldFrames, 1))
		}
	}
	s.packet = Frame{CallID: cfg.CallID, MimeType: cfg.MimeType, SampleRate: cfg.ClockRate}
	s.frame.MimeType = cfg.MimeType
	return s, nil
}

// Push takes one RTP packet that arrived at arrival. Garbage is counted as a
// decode error and dropped; duplicates and packets whose turn has passed are
// counted and dropped.
//
// hot path: no alloc, no lock.
func (s *Stream) Push(b []byte, arrival time.Time) {
	if err := s.pkt.Unmarshal(b); err != nil {
		s.counters.DecodeErrors++
		return
	}
	s.counters.Packets++
	if s.pkt.SSRC != s.ssrc {
		s.restart(arrival) // a new sender on this section
		s.ssrc = s.pkt.SSRC
	}
	var csrc uint32
	if len(s.pkt.CSRC) > 0 {
		csrc = s.pkt.CSRC[0]
	}
	p := &s.pkt
	level := s.levelOf(p)
	for {
		switch s.win.push(p.SequenceNumber, p.Timestamp, csrc, p.Marker, level, p.Payload, arrival) {
		case pushDuplicate:
			s.counters.Duplicates++
			return
		case pushLate:
			s.counters.Late++
			return
		case pushRestart:
			s.restart(arrival)
			continue
		case pushTooFar:
			if s.win.held == 0 { // nothing to release: give up on the gap itself
				s.win.giveUp()
				s.conceal(s.win.next - 1)
			} else {
				s.release(arrival, true, 1)
			}
			continue
		case pushReordered:
			s.counters.Reordered++
		}
		break
	}
	s.updateJitter(monotime.Of(arrival), p.Timestamp)
	s.release(arrival, false, -1)
}

// Flush delivers everything still held: gaps are given up on at once.
// Frames still kept back by a closed Hold are dropped and counted.
func (s *Stream) Flush() {
	s.release(s.cfg.Now(), true, -1)
	if len(s.pend) > 0 {
		s.flushPending()
	}
	if s.held != nil && !s.cfg.Hold() {
		s.holdDropped += uint64(s.held.Drain(func(*Frame) {}))
		if s.heldPackets != nil {
			s.heldPackets.Drain(func(*Frame) {}) // counted as frames already
		}
	}
}

// levelOf reads a packet's RFC 6464 audio level (RFC 8285 one-byte header
// element: V bit, then the level in -dBov), when the sender negotiated it.
//
// hot path: no alloc.
func (s *Stream) levelOf(p *rtp.Packet) audioLevel {
	if s.cfg.AudioLevelID == 0 || !p.Extension {
		return audioLevel{}
	}
	if b := p.GetExtension(s.cfg.AudioLevelID); len(b) > 0 {
		return audioLevel{v: b[0] & 0x7f, ok: true}
	}
	return audioLevel{}
}

// restart delivers what is held and starts a new timeline: the sender
// changed or restarted its sequence numbers.
func (s *Stream) restart(now time.Time) {
	s.release(now, true, -1)
	if len(s.pend) > 0 {
		s.flushPending()
	}
	s.win.started = false
	s.timeStarted = false
}

// release plays the packets the window lets go, concealing given-up gaps;
// with force, gaps are given up on at once. At most limit steps (<0: all).
func (s *Stream) release(now time.Time, force bool, limit int) {
	for ; limit != 0; limit-- {
		h, lost := s.win.pop(now, force)
		switch {
		case h != nil:
			s.play(h)
		case lost:
			s.conceal(s.win.next - 1)
		default:
			return
		}
	}
}

// play decodes a packet released in order.
func (s *Stream) play(h *heldPacket) {
	if !s.timeStarted {
		s.timeStarted = true
		s.lastTS, s.extTS = h.ts, 0
		s.baseMediaMs = 0
		if !s.cfg.MediaStart.IsZero() {
			s.baseMediaMs = max(h.arrival.Sub(s.cfg.MediaStart).Milliseconds(), 0)
		}
	} else {
		s.extTS += int64(int32(h.ts - s.lastTS))
		s.lastTS = h.ts
	}
	s.lostRun = 0
	s.lastCSRC = h.csrc
	if len(s.cfg.PacketRings) > 0 {
		s.passPacket(h)
	}
	if !s.decoding {
		s.lastDur = s.packetDur(h.Payload())
		return
	}
	s.level = h.level
	pcm, err := s.dec.Decode(h.Payload())
	if err != nil {
		s.counters.DecodeErrors++
		return
	}
	s.lastDur = int64(len(pcm)) * int64(s.cfg.ClockRate) / int64(s.cfg.SampleRate)
	s.emit(pcm, h.seq, h.ts, h.csrc, h.arrival, false)
}

// conceal stands in for lost packet seq: in-band FEC from the packet after
// it when that one is held and carries it, PLC otherwise, and silence (no
// frames: the media clock moves on) once a gap is longer than ConcealMs.
func (s *Stream) conceal(seq uint16) {
	s.counters.Lost++
	if !s.timeStarted {
		return // nothing played yet: no timeline to conceal on
	}
	s.lastTS += uint32(s.lastDur)
	s.extTS += s.lastDur
	s.lostRun++
	if int64(s.lostRun)*s.lastDur*1000/int64(s.cfg.ClockRate) > int64(s.cfg.ConcealMs) {
		return
	}
	var next []byte
	if h := s.win.peek(); h != nil {
		next = h.Payload()
	}
	if !s.decoding {
		return // packets pass on as they are: the gap stays in their timestamps
	}
	samples := int(s.lastDur * int64(s.cfg.SampleRate) / int64(s.cfg.ClockRate))
	s.level = audioLevel{}
	pcm, fec, err := s.dec.Conceal(next, samples)
	if err != nil {
		s.counters.DecodeErrors++
		return
	}
	if fec {
		s.counters.ConcealedFEC++
	} else {
		s.counters.ConcealedPLC++
	}
	s.emit(pcm, seq, s.lastTS, s.lastCSRC, s.cfg.Now(), true)
}

// emit cuts decoded samples into 20 ms frames placed by RTP timestamp on the
// media clock. Samples short of a frame wait in pend for the next packet; if
// that packet does not continue them (DTX, another speaker), the partial
// frame is completed with silence and delivered first. A frame built from
// several packets carries the Seq and Arrival of the one that completed it.
func (s *Stream) emit(pcm []int16, seq uint16, ts, csrc uint32, arrival time.Time, concealed bool) {
	f := &s.frame
	if len(s.pend) > 0 && (s.extTS != s.pendNext || csrc != f.CSRC) {
		s.flushPending() // f still describes the packets pend came from
	}
	f.CallID = s.cfg.CallID
	f.SSRC = s.ssrc
	f.CSRC = csrc
	f.Seq = seq
	f.Arrival = arrival
	f.SampleRate = s.cfg.SampleRate
	f.Concealed = concealed
	f.Level, f.HasLevel = s.level.v, s.level.ok
	f.Duration = FrameMs * time.Millisecond
	if s.cfg.Participant != nil {
		f.ParticipantID, f.Identity = s.cfg.Participant(f.SourceID())
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

// deliver hands one frame of pcm at ts / ms to the consumer and the rings.
//
// hot path: no alloc.
func (s *Stream) deliver(ts uint32, ms int64, pcm []int16) {
	f := &s.frame
	f.RTPTimestamp, f.MediaTimeMs, f.PCM = ts, ms, pcm
	s.pass(s.held, f, s.output)
}

// passPacket hands the packet being played, as received, to the packet
// rings, on the media clock.
//
// hot path: no alloc.
func (s *Stream) passPacket(h *heldPacket) {
	p := &s.packet
	p.SSRC, p.CSRC, p.Seq, p.RTPTimestamp, p.Arrival = s.ssrc, h.csrc, h.seq, h.ts, h.arrival
	p.MediaTimeMs = s.baseMediaMs + s.extTS*1000/int64(s.cfg.ClockRate)
	p.Payload, p.Level, p.HasLevel = h.Payload(), h.level.v, h.level.ok
	p.Duration = time.Duration(s.packetDur(h.payload) * int64(time.Second) / int64(s.cfg.ClockRate))
	if s.cfg.Participant != nil {
		p.ParticipantID, p.Identity = s.cfg.Participant(p.SourceID())
	}
	s.pass(s.heldPackets, p, s.outputPacket)
}

// packetDur is a packet's length in RTP clock units: its Opus frames, or
// one G.711 sample a byte; the last packet's for a packet that says none.
//
// hot path: no alloc.
func (s *Stream) packetDur(payload []byte) int64 {
	if s.cfg.ClockRate != 48000 { // G.711: one sample per byte at its 8 kHz clock
		return int64(len(payload))
	}
	n, err := OpusSamples(payload)
	if err != nil || n == 0 {
		return s.lastDur
	}
	return int64(n)
}

// pass holds f back in held while Hold is closed (the oldest dropped when
// it is full); once open, it releases what is held, then f, to out.
//
// hot path: no alloc.
func (s *Stream) pass(held *Ring, f *Frame, out func(*Frame)) {
	if held != nil {
		if !s.cfg.Hold() {
			if !held.Put(f) { // full: drop the oldest, keep the newest
				held.dropOldest()
				s.holdDropped++
				held.Put(f)
			}
			return
		}
		if held.Len() > 0 {
			held.Drain(out)
		}
	}
	out(f)
}

// output hands one frame to the consumer and the rings.
//
// hot path: no alloc.
func (s *Stream) output(f *Frame) {
	if s.cfg.Consumer != nil {
		s.cfg.Consumer.Frame(f)
	}
	s.put(s.cfg.Rings, f)
}

// outputPacket hands one packet frame to the packet rings.
//
// hot path: no alloc.
func (s *Stream) outputPacket(f *Frame) { s.put(s.cfg.PacketRings, f) }

// put copies f into each ring, noting the first overflow.
//
// hot path: no alloc.
func (s *Stream) put(rings []*Ring, f *Frame) {
	for _, r := range rings {
		if !r.Put(f) && !s.overflowed {
			s.overflowed = true
			if s.cfg.OnOverflow != nil {
				s.cfg.OnOverflow()
			}
		}
	}
}

// updateJitter keeps the RFC 3550 §6.4.1 interarrival jitter estimate, in
// arrival order.
func (s *Stream) updateJitter(now int64, ts uint32) {
	if !s.jitStarted {
		s.jitStarted, s.jitLastTS = true, ts
	}
	s.jitExt += int64(int32(ts - s.jitLastTS))
	s.jitLastTS = ts
	transit := float64(now)*float64(s.cfg.ClockRate)/1e9 - float64(s.jitExt)
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
	c.HoldDropped = s.holdDropped
	for _, r := range s.cfg.Rings {
		c.RingOverflows += r.Overflows()
	}
	for _, r := range s.cfg.PacketRings {
		c.RingOverflows += r.Overflows()
	}
	return c
}
