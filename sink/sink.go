package sink

import (
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
)

// Sink consumes a call's frames and events.
//
// Frame is called concurrently from several stream goroutines and must not
// keep f or f.PCM after it returns; Event may be called concurrently with
// Frame. Neither may panic or block for long.
type Sink interface {
	audio.FrameConsumer
	event.Consumer

	// EndCall says the call is over: the sink flushes and closes its
	// outputs; later frames and events of the call are ignored.
	EndCall(callID string)

	// Close flushes and closes everything.
	Close() error

	// String prints what the sink is, e.g. "FILE(./recordings)".
	String() string
}
