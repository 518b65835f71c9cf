package levels

import (
	"math"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

// Each participant's level is its latest frame's, then silence once no
// frame came for levelHold; a packet frame says its sender's level.
func TestLevelMeterFollowsEachParticipant(t *testing.T) {
	m := New()
	loud := make([]int16, 320)
	for i := range loud {
		loud[i] = 3277 // -20 dBFS
	}
	quiet := make([]int16, 320)
	for i := range quiet {
		quiet[i] = 33 // -60 dBFS
	}
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: loud})
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "bob", PCM: quiet})
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "carol", Payload: []byte{0xf8}, Level: 30, HasLevel: true})
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "dave", Payload: []byte{0xf8}}) // no level: nothing known
	m.Frame(&audio.Frame{CallID: "c", PCM: loud})                                    // no roster name yet: skipped

	now := time.Now()
	got := m.Participants("c", now)
	if len(got) != 3 {
		t.Fatalf("levels %v, want alice, bob and carol", got)
	}
	for id, want := range map[string]float64{"alice": -20, "bob": -60, "carol": -30} {
		if math.Abs(got[id]-want) > 0.1 {
			t.Errorf("%s: %.1f dBFS, want %.0f", id, got[id], want)
		}
	}
	if a := m.Participants("c", now.Add(2*levelHold))["alice"]; a != SilenceDBFS {
		t.Errorf("alice with no frame for %v: %.1f dBFS, want silence", 2*levelHold, a)
	}

	m.EndCall("c")
	if got := m.Participants("c", now); got != nil {
		t.Errorf("after EndCall: %v", got)
	}
	var none *Meter
	none.EndCall("c")
	if got := none.Participants("c", now); got != nil {
		t.Errorf("nil meter: %v", got)
	}
}

// The meter sees every frame of every stream: once a participant has an
// entry, a frame costs no allocation.
func TestLevelMeterFrameDoesNotAllocate(t *testing.T) {
	m := New()
	f := &audio.Frame{CallID: "call", ParticipantID: "alice", PCM: make([]int16, 320)}
	m.Frame(f)
	if n := testing.AllocsPerRun(1000, func() { m.Frame(f) }); n != 0 {
		t.Errorf("Frame allocates %.1f times per frame", n)
	}
}

func TestLevelMeterMeasuresOneFramePerInterval(t *testing.T) {
	m := New()
	loud, quiet := make([]int16, 320), make([]int16, 320)
	for i := range loud {
		loud[i], quiet[i] = 3277, 33 // -20 and -60 dBFS
	}
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: loud})
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: quiet})
	if a := m.Participants("c", time.Now())["alice"]; math.Abs(a+20) > 0.1 {
		t.Errorf("alice: %.1f, want the first frame's -20 dBFS until %v has passed", a, levelEvery)
	}
	time.Sleep(levelEvery)
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: quiet})
	if a := m.Participants("c", time.Now())["alice"]; math.Abs(a+60) > 0.1 {
		t.Errorf("alice: %.1f, want -60 dBFS measured after %v", a, levelEvery)
	}
}
