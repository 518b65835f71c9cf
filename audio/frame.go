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
}

// SourceID is the id a roster uses for this frame's speaker: the CSRC when
// the packet named one, else the SSRC.
func (f *Frame) SourceID() uint32 {
	if f.CSRC != 0 {
		return f.CSRC
	}
	return f.SSRC
}

// FrameConsumer receives frames. A consumer behind a Drainer (every sink
// and in-process consumer of the bot) is called from that drainer's
// goroutine only, never concurrently with itself; it must not block and
// must not keep f or f.PCM after returning.
type FrameConsumer interface {
	Frame(f *Frame)
}
