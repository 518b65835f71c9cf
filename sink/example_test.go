package sink_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/sink"
)

func ExampleFileSink() {
	dir, _ := os.MkdirTemp("", "recordings")
	defer os.RemoveAll(dir)

	s, err := sink.NewFileSink(dir, 16000, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	pcm := make([]int16, 320) // 20 ms at 16 kHz
	s.Frame(&audio.Frame{CallID: "call-1", SSRC: 42, MediaTimeMs: 1000, SampleRate: 16000, PCM: pcm})
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "call-1", ParticipantID: "alice", SourceID: "42"})
	s.EndCall("call-1")

	files, _ := filepath.Glob(filepath.Join(dir, "call-1", "*"))
	for _, f := range files {
		info, _ := os.Stat(f)
		fmt.Println(filepath.Base(f), info.Size())
	}
	// Output:
	// alice.wav 32684
	// events.jsonl 134
}
