package sink

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mediabot-dev/mediabot/event"
)

// Each speech.ended becomes one NIST RTTM line in speakers.rttm, written at
// once: onset (the stretch's start on the media clock) and duration in
// seconds, the participant as the speaker.
func TestFileSinkWritesSpeakersRTTM(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	defer s.Close()
	ms := func(v int64) *int64 { return &v }
	for _, e := range []event.Event{
		{Type: event.SpeechStarted, CallID: "call-1", ParticipantID: "alice", MediaTimeMs: 1200},
		{Type: event.SpeechEnded, CallID: "call-1", ParticipantID: "alice", MediaTimeMs: 3450, DurationMs: ms(2250)},
		{Type: event.SpeechEnded, CallID: "call-1", ParticipantID: "bob b", MediaTimeMs: 4000, DurationMs: ms(500)},
	} {
		s.Event(e)
	}
	want := "SPEAKER call-1 1 1.200 2.250 <NA> <NA> alice <NA> <NA>\n" +
		"SPEAKER call-1 1 3.500 0.500 <NA> <NA> bob_b <NA> <NA>\n"
	// Readable before the call ends: each line is written as it comes.
	got, err := os.ReadFile(filepath.Join(dir, "call-1", "speakers.rttm"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("speakers.rttm:\n%s\nwant:\n%s", got, want)
	}
	s.EndCall("call-1")
	if got, _ := os.ReadFile(filepath.Join(dir, "call-1", "speakers.rttm")); string(got) != want {
		t.Errorf("after EndCall, speakers.rttm:\n%s", got)
	}
}
