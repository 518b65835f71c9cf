package levels

import (
	"math"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

func TestFrameDBFSIsRMSAgainstFullScale(t *testing.T) {
	square := func(a int16) []int16 {
		pcm := make([]int16, 320)
		for i := range pcm {
			pcm[i] = a
			if i%2 == 1 {
				pcm[i] = -a
			}
		}
		return pcm
	}
	cases := []struct {
		name string
		pcm  []int16
		want float64
	}{
		{"full-scale square", square(math.MaxInt16), 0},
		{"tenth of full scale", square(3277), -20},
		{"hundredth of full scale", square(328), -40},
		{"digital silence", make([]int16, 320), SilenceDBFS},
		{"empty frame", nil, SilenceDBFS},
	}
	for _, c := range cases {
		if got := frameDBFS(c.pcm); math.Abs(got-c.want) > 0.05 {
			t.Errorf("%s: %.2f dBFS, want %.2f", c.name, got, c.want)
		}
	}
}

func TestLevelMeterSpeakingAboveThresholdThenHeld(t *testing.T) {
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
	m.Frame(&audio.Frame{CallID: "c", PCM: loud}) // no roster name yet: skipped

	now := time.Now()
	got := m.Participants("c", now)
	if len(got) != 2 {
		t.Fatalf("levels %v, want alice and bob", got)
	}
	if a := got["alice"]; !a.Speaking || math.Abs(a.DBFS+20) > 0.1 {
		t.Errorf("alice: %+v, want speaking at -20 dBFS", a)
	}
	if b := got["bob"]; b.Speaking || math.Abs(b.DBFS+60) > 0.1 {
		t.Errorf("bob: %+v, want silent at -60 dBFS", b)
	}
	later := m.Participants("c", now.Add(levelHold+speakingHold))
	if a := later["alice"]; a.Speaking || a.DBFS != SilenceDBFS {
		t.Errorf("alice with no frame for %v: %+v, want not speaking, silent", levelHold+speakingHold, a)
	}

	m.EndCall("c")
	if got := m.Participants("c", now); got != nil {
		t.Errorf("after endCall: %v", got)
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
	if a := m.Participants("c", time.Now())["alice"]; math.Abs(a.DBFS+20) > 0.1 {
		t.Errorf("alice: %+v, want the first frame's -20 dBFS until %v has passed", a, levelEvery)
	}
	time.Sleep(levelEvery)
	m.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: quiet})
	if a := m.Participants("c", time.Now())["alice"]; math.Abs(a.DBFS+60) > 0.1 {
		t.Errorf("alice: %+v, want -60 dBFS measured after %v", a, levelEvery)
	}
}
