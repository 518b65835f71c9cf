package sink

import (
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
)

// Sink consumes a call's frames and events.
//
// Each sink, like each in-process frame consumer, is fed by a drainer
// goroutine of its own (audio.Drainer), which delivers the frames of every
// stream: Frame is called from one goroutine at a time for a given sink,
// never concurrently with itself. Event may be called concurrently with
// Frame and with itself, from call workers. Frame must not keep f or f.PCM
// after it returns; neither may panic or block for long.
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
