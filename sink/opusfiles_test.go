package sink

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/oggtest"
)

// With RecordOpus the sink takes Opus streams as packets and keeps them in
// {participant}.opus: a stream no roster names yet is ssrc-{n}.opus, renamed
// with every file it rolled over to once the roster names it; the files
// together decode to the media clock's length; G.711 streams stay decoded.
func TestFileSinkRecordsOpusPackets(t *testing.T) {
	old := maxOpusBytes
	maxOpusBytes = 2000
	t.Cleanup(func() { maxOpusBytes = old })
	dir := t.TempDir()
	s, err := NewFileSink(dir, testRate, nil, RecordOpus())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.WantsPackets("audio/opus") || s.WantsPackets("audio/PCMU") {
		t.Fatal("a RecordOpus sink wants the packets of Opus streams, and only those")
	}
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(100)
	if err != nil {
		t.Fatal(err)
	}
	const start = 500 // ms: the participant's first packet, on the media clock
	for i, p := range pkts {
		pid := ""
		if i >= 60 {
			pid = "alice" // the roster names the stream
		}
		s.Packet(&audio.Frame{CallID: "c", ParticipantID: pid, SSRC: 42, MediaTimeMs: int64(start + 20*i), Payload: p,
			MimeType: "audio/opus", Duration: 20 * time.Millisecond})
	}
	s.Event(event.Event{Type: event.CallState, CallID: "c", State: "terminated"})
	s.EndCall("c")

	files, _ := filepath.Glob(filepath.Join(dir, "c", "*.opus"))
	slices.Sort(files)
	if len(files) < 2 || filepath.Base(files[0]) != "alice.2.opus" || filepath.Base(files[len(files)-1]) != "alice.opus" {
		t.Fatalf("files %v: want alice.opus and the files it rolled over to, all renamed", files)
	}
	var total int
	for i := range files {
		total += len(oggtest.Decode(t, segmentPath(filepath.Join(dir, "c", "alice.opus"), i+1)))
	}
	if want := (start + 20*len(pkts)) * 48; total < want-120 || total > want+120 {
		t.Errorf("the files decode to %d samples, want %d (the media clock to the last packet)", total, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "events.jsonl")); err != nil {
		t.Error(err)
	}
}
