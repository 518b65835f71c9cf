package audio

import (
	"time"

	"github.com/mediabot-dev/mediabot/event"
)

// Frame is 20 ms of decoded mono PCM from one remote audio stream, with what
// a consumer needs to place it: who spoke it, where it sits on the call's
// media clock, and whether it is real audio or concealment.
//
// Ownership: PCM (and the Frame itself) belong to the producer and are valid
// only during the call that hands the Frame over. A consumer that keeps
// samples copies them. Identity is immutable and may be kept.
type Frame struct {
	CallID        string
	ParticipantID string // empty while no roster names the stream
	// Identity is who the participant is (Entra object id, display name,
	// tenant; phone number for PSTN; "guest" when that is all there is);
	// nil while no roster names the stream.
	Identity     *event.Identity
	SSRC         uint32
	CSRC         uint32 // the speaker's sourceId when sections rotate; 0 if none
	Seq          uint16
	RTPTimestamp uint32
	MediaTimeMs  int64     // start of the frame on the call's media clock
	Arrival      time.Time // when the packet that produced it arrived
	SampleRate   int
	Concealed    bool
	PCM          []int16
	// Level is the audio level the sender put on the packet (the RFC 6464
	// client-to-mixer header extension) in -dBov: 0 is the loudest, 127
	// silence; valid only with HasLevel.
	Level    uint8
	HasLevel bool
	// Payload, on the frames a PacketConsumer gets, is the RTP payload as
	// received (Opus; G.711 on phone legs), not decoded: PCM is then nil,
	// and the frame stands for one packet.
	Payload []byte
	// MimeType is the stream's codec: audio/opus, audio/PCMU or audio/PCMA.
	MimeType string
	// Duration is how much audio the frame covers: 20 ms for PCM frames,
	// the packet's duration for packet frames.
	Duration time.Duration
}

// MaxPayload is the largest RTP payload a packet frame holds: an Opus
// packet is at most 1275 bytes per frame, 120 ms in all; 1500 covers any
// that fits a datagram.
const MaxPayload = 1500

// SourceID is the id a roster uses for this frame's speaker: the CSRC when
// the packet named one, else the SSRC.
func (f *Frame) SourceID() uint32 {
	if f.CSRC != 0 {
		return f.CSRC
	}
	return f.SSRC
}

// PacketConsumer receives a stream's packets as received, not decoded: a
// Frame per packet, with Payload set and PCM nil. A consumer that wants
// packets for some codecs and PCM for others (Ogg Opus recording: Opus
// packets, but phone legs decoded) implements both interfaces and says
// which in WantsPackets. Like a FrameConsumer behind a Drainer, it is called
// from one goroutine only and must not keep p or p.Payload.
type PacketConsumer interface {
	Packet(p *Frame)
	// WantsPackets reports whether the consumer takes the packets of a
	// stream of codec mimeType (else it takes its decoded frames).
	WantsPackets(mimeType string) bool
}

// FrameConsumer receives frames. A consumer behind a Drainer (every sink
// and in-process consumer of the bot) is called from that drainer's
// goroutine only, never concurrently with itself; it must not block and
// must not keep f or f.PCM after returning.
type FrameConsumer interface {
	Frame(f *Frame)
}
