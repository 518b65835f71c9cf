package speech

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

// feeder makes one participant's frames of call "c" in media-time order,
// the harness's wall clock following.
type feeder struct {
	h   *harness
	who string
	ms  int64 // media time of the next frame
	pcm []int16
}

func (h *harness) feeder(who string) *feeder {
	return &feeder{h: h, who: who, pcm: make([]int16, frameLen)}
}

// send feeds n 20 ms frames of constant loudness db (dBFS RMS of a square
// wave; SilenceDB: zeros) and returns the edges they brought.
func (f *feeder) send(n int, db float64, concealed bool) []found {
	a := int16(0)
	if db > SilenceDB {
		a = int16(math.Round(math.Pow(10, db/20) * 32768))
	}
	for i := range f.pcm {
		f.pcm[i] = a
		if i%2 == 1 {
			f.pcm[i] = -a
		}
	}
	for range n {
		f.h.advance(f.ms + audio.FrameMs)
		f.h.d.Frame(&audio.Frame{CallID: "c", ParticipantID: f.who, SSRC: ssrcOf(f.who), MediaTimeMs: f.ms, PCM: f.pcm,
			SampleRate: testRate, Duration: audio.FrameMs * time.Millisecond, Concealed: concealed})
		f.ms += audio.FrameMs
	}
	return f.h.got()
}

// skip moves the media time on by ms with no frame (DTX), the wall clock
// not following (the harness is advanced separately when wanted).
func (f *feeder) skip(ms int64) { f.ms += ms }

// packet feeds one packet frame of dur ms with the given level (hasLevel
// false: none).
func (f *feeder) packet(dur int64, lvl uint8, hasLevel bool) []found {
	f.h.advance(f.ms + dur)
	f.h.d.Frame(&audio.Frame{CallID: "c", ParticipantID: f.who, SSRC: ssrcOf(f.who), MediaTimeMs: f.ms, Payload: []byte{1},
		Level: lvl, HasLevel: hasLevel, Duration: time.Duration(dur) * time.Millisecond})
	f.ms += dur
	return f.h.got()
}

func edgeIs(t *testing.T, got []found, want ...Edge) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("edges %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].callID != "c" || got[i].e != want[i] {
			t.Fatalf("edges %+v, want %+v", got, want)
		}
	}
}

func TestPCMDBFSIsRMSAgainstFullScale(t *testing.T) {
	square := func(a int16) []int16 {
		pcm := make([]int16, frameLen)
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
		{"-45 dBFS", square(184), -45},
		{"digital silence", make([]int16, frameLen), SilenceDB},
		{"empty frame", []int16{}, SilenceDB},
	}
	for _, c := range cases {
		if got := PCMDBFS(c.pcm); math.Abs(got-c.want) > 0.05 {
			t.Errorf("%s: %.2f dBFS, want %.2f", c.name, got, c.want)
		}
	}
}

// TestSpeechIsAboveTheAbsoluteThresholdAndTheFloor rates single frames
// against a floor: speech is louder than max(-45, floor+12), in dBFS for
// PCM and in -dBov for levels alike.
func TestSpeechIsAboveTheAbsoluteThresholdAndTheFloor(t *testing.T) {
	cases := []struct {
		name  string
		floor float64
		f     audio.Frame
		want  bool
	}{
		{"-30 dBFS in a quiet room", -60, audio.Frame{PCM: squareAt(-30)}, true},
		{"-44 dBFS in a quiet room", -60, audio.Frame{PCM: squareAt(-44)}, true},
		{"-46 dBFS in a quiet room", -60, audio.Frame{PCM: squareAt(-46)}, false},
		{"digital silence", -70, audio.Frame{PCM: make([]int16, frameLen)}, false},
		{"-30 dBFS over a -40 floor", -40, audio.Frame{PCM: squareAt(-30)}, false},
		{"-26 dBFS over a -40 floor", -40, audio.Frame{PCM: squareAt(-26)}, true},
		{"level 30 in a quiet room", -60, audio.Frame{Payload: []byte{1}, Level: 30, HasLevel: true}, true},
		{"level 44", -60, audio.Frame{Payload: []byte{1}, Level: 44, HasLevel: true}, true},
		{"level 46", -60, audio.Frame{Payload: []byte{1}, Level: 46, HasLevel: true}, false},
		{"level 127", -70, audio.Frame{Payload: []byte{1}, Level: 127, HasLevel: true}, false},
		{"level 30 over a -40 floor", -40, audio.Frame{Payload: []byte{1}, Level: 30, HasLevel: true}, false},
		{"the level over loud PCM", -60, audio.Frame{PCM: squareAt(-10), Level: 60, HasLevel: true}, false},
		{"the level over quiet PCM", -60, audio.Frame{PCM: squareAt(-60), Level: 20, HasLevel: true}, true},
	}
	for _, c := range cases {
		tk := &talker{floor: c.floor}
		db, known := loudness(&c.f)
		if !known {
			t.Fatalf("%s: loudness unknown", c.name)
		}
		if got := tk.rate(db, 20); got != c.want {
			t.Errorf("%s (%.1f dB, floor %.0f): speech %v, want %v", c.name, db, c.floor, got, c.want)
		}
	}
	if _, known := loudness(&audio.Frame{Payload: []byte{1}}); known {
		t.Error("a packet frame without a level has a loudness")
	}
}

func squareAt(db float64) []int16 {
	a := int16(math.Round(math.Pow(10, db/20) * 32768))
	pcm := make([]int16, frameLen)
	for i := range pcm {
		pcm[i] = a
		if i%2 == 1 {
			pcm[i] = -a
		}
	}
	return pcm
}

// TestFloorFallsFastRisesSlowly follows the floor: down to a quieter
// background within a few frames, up to a louder one at a few dB a second,
// and hardly at all under unsteady speech.
func TestFloorFallsFastRisesSlowly(t *testing.T) {
	tk := &talker{floor: -40}
	for range 10 { // 200 ms
		tk.rate(-60, 20)
	}
	if tk.floor != -60 {
		t.Errorf("floor %.1f after 200 ms at -60 from -40, want -60", tk.floor)
	}
	tk.rate(SilenceDB, 20)
	if tk.floor < -62.1 {
		t.Errorf("floor %.1f after one frame of zeros, want it to move 2 dB at most", tk.floor)
	}
	for range 50 {
		tk.rate(SilenceDB, 20)
	}
	if tk.floor != floorMinDB {
		t.Errorf("floor %.1f under digital silence, want %v", tk.floor, floorMinDB)
	}
	for range 50 { // a second of -55 noise
		tk.rate(-55, 20)
	}
	if want := floorMinDB + floorRiseDBps; math.Abs(tk.floor-want) > 0.01 {
		t.Errorf("floor %.2f after 1 s of -55 from %v, want %.2f", tk.floor, floorMinDB, want)
	}

	// ten seconds of voice over a quiet room: the floor stays put
	tk = &talker{floor: -60}
	pcm := make([]int16, frameLen)
	for i := range 500 {
		fillVoice(pcm, i*frameLen)
		if !tk.rate(PCMDBFS(pcm), 20) {
			t.Fatalf("voice frame %d not speech: floor %.1f", i, tk.floor)
		}
	}
	t.Logf("floor %.2f after 10 s of voice from -60 (steadiness %.2f dB)", tk.floor, tk.steady)
	if tk.floor > -60+10*speechRiseDBps+0.5 {
		t.Errorf("floor %.1f after 10 s of voice from -60 (steadiness %.2f dB)", tk.floor, tk.steady)
	}
}

// TestQuietRoomIsNeverSpeech: comfort noise and a quiet room, however long,
// open no stretch.
func TestQuietRoomIsNeverSpeech(t *testing.T) {
	for _, db := range []float64{-70, -60, -55, -50, -47} {
		h := newHarness()
		got := h.play(script{src: source{noiseDB: db}, totalMs: 30_000}, "alice")
		if len(got) != 0 {
			t.Errorf("%v dBFS noise: edges %+v", db, got)
		}
	}
	h := newHarness()
	f := h.feeder("alice")
	for range 300 {
		if got := f.packet(20, 55, true); len(got) != 0 {
			t.Fatalf("level 55 packets: edges %+v", got)
		}
	}
}

// TestSteadyNoiseIsNotSpeechOnceTheFloorAdapted: a steady -40 dBFS noise
// starting in a quiet room (the floor at -60) is speech only until the
// floor has risen to within 12 dB of it, and never again.
func TestSteadyNoiseIsNotSpeechOnceTheFloorAdapted(t *testing.T) {
	h := newHarness()
	got := stretches(t, h.play(script{src: source{noiseDB: -40}, totalMs: 60_000}, "alice"), "alice")
	if len(got) > 1 || len(got) == 1 && (got[0].from != 0 || got[0].to > 4000) {
		t.Fatalf("stretches %v in 60 s of -40 dBFS noise, want at most one, over within 4 s", got)
	}
	t.Logf("-40 dBFS noise from a -60 floor: speech for %v, then not", got)
}

// TestVoiceIsSpeechThroughout: the voice-like signal is one stretch from
// its first frame to its last, over a quiet room or comfort noise, for
// half a minute without a pause (the floor creeps up under it at
// speechRiseDBps only).
func TestVoiceIsSpeechThroughout(t *testing.T) {
	for _, noise := range []float64{0, -65, -55} {
		h := newHarness()
		sc := script{src: source{spans: []span{{1000, 31_000}}, noiseDB: noise}, totalMs: 32_000}
		got := stretches(t, h.play(sc, "alice"), "alice")
		if len(got) != 1 || got[0] != (span{1000, 31_000}) {
			t.Errorf("noise %v dBFS: stretches %v of half a minute of voice, want [{1000 31000}]", noise, got)
		}
	}
}

// TestOnsetNeedsTwoFrames: a click (one loud frame) starts nothing; two
// frames start a stretch at the first.
func TestOnsetNeedsTwoFrames(t *testing.T) {
	h := newHarness()
	f := h.feeder("alice")
	f.send(10, SilenceDB, false)
	for range 5 {
		if got := f.send(1, -20, false); len(got) != 0 {
			t.Fatalf("a click: %+v", got)
		}
		f.send(5, SilenceDB, false)
	}
	f.skip(200) // DTX: two clicks apart are no run
	f.send(1, -20, false)
	f.skip(100)
	if got := f.send(1, -20, false); len(got) != 0 {
		t.Fatalf("clicks across a DTX gap: %+v", got)
	}
	f.send(1, SilenceDB, false)
	start := f.ms
	f.send(1, -20, false)
	got := f.send(1, -20, false)
	edgeIs(t, got, Edge{ParticipantID: "alice", Started: true, AtMs: start})
	if !h.d.Speaking("c")["alice"] {
		t.Error("not speaking after the start edge")
	}

	// a packet frame of 40 ms or more is enough by itself
	h = newHarness()
	f = h.feeder("bob")
	f.packet(20, 127, true)
	edgeIs(t, f.packet(60, 20, true), Edge{ParticipantID: "bob", Started: true, AtMs: 20})
}

// TestConcealedFramesAreNeutral: concealment never starts speech; inside a
// stretch it neither extends it nor ends it (as long as the media clock
// has not passed the hangover); a run of speech goes on across it.
func TestConcealedFramesAreNeutral(t *testing.T) {
	h := newHarness()
	f := h.feeder("alice")
	if got := f.send(50, -10, true); len(got) != 0 {
		t.Fatalf("a second of loud concealment: %+v", got)
	}
	start := f.ms
	f.send(1, -20, false)
	f.send(3, -10, true)
	edgeIs(t, f.send(1, -20, false), Edge{ParticipantID: "alice", Started: true, AtMs: start})
	f.send(10, -20, false)
	f.send(12, -30, true) // 240 ms of concealment
	f.send(10, -20, false)
	end := f.ms
	if got := f.send(14, -10, true); len(got) != 0 { // 280 ms of loud concealment
		t.Fatalf("concealment within the hangover: %+v", got)
	}
	edgeIs(t, f.send(2, -10, true), Edge{ParticipantID: "alice", AtMs: end, DurationMs: end - start})
}

// TestHangover: a pause up to 300 ms goes on with the stretch; a longer one
// ends it at the end of the last speech frame, seen by a quiet frame past
// the hangover, by a frame whose media time jumped past it, or by Tick when
// no frame came for the hangover.
func TestHangover(t *testing.T) {
	t.Run("quiet frames", func(t *testing.T) {
		h := newHarness()
		f := h.feeder("alice")
		f.send(5, -20, false)
		f.send(15, SilenceDB, false) // 300 ms
		f.send(5, -20, false)
		end := f.ms
		if got := f.send(15, -60, false); len(got) != 0 {
			t.Fatalf("300 ms pause: %+v", got)
		}
		edgeIs(t, f.send(1, -60, false), Edge{ParticipantID: "alice", AtMs: end, DurationMs: end})
	})
	t.Run("a click in the hangover does not extend", func(t *testing.T) {
		h := newHarness()
		f := h.feeder("alice")
		f.send(5, -20, false)
		f.send(10, SilenceDB, false)
		f.send(1, -20, false)
		f.send(4, SilenceDB, false)
		edgeIs(t, f.send(1, SilenceDB, false), Edge{ParticipantID: "alice", AtMs: 100, DurationMs: 100})
	})
	t.Run("speech resuming at the end of the hangover goes on", func(t *testing.T) {
		h := newHarness()
		f := h.feeder("alice")
		f.send(5, -20, false)
		f.send(14, SilenceDB, false)                     // 280 ms pause
		if got := f.send(2, -20, false); len(got) != 0 { // the second frame is past 300 ms: the run started within
			t.Fatalf("%+v", got)
		}
		if !h.d.Speaking("c")["alice"] {
			t.Error("not speaking")
		}
	})
	t.Run("DTX: the next frame's media time jumped", func(t *testing.T) {
		h := newHarness()
		f := h.feeder("alice")
		f.send(5, -20, false)
		f.skip(280) // within the hangover: goes on
		if got := f.send(2, -20, false); len(got) != 0 {
			t.Fatalf("280 ms DTX pause: %+v", got)
		}
		end := f.ms
		f.skip(320)
		got := f.send(1, -20, false) // one frame: ends, does not start yet
		edgeIs(t, got, Edge{ParticipantID: "alice", AtMs: end, DurationMs: end})
		edgeIs(t, f.send(1, -20, false), Edge{ParticipantID: "alice", Started: true, AtMs: end + 320})
	})
	t.Run("Tick: no frame for StallMs", func(t *testing.T) {
		h := newHarness()
		f := h.feeder("alice")
		f.send(10, -20, false)
		f.send(5, SilenceDB, false)
		h.got()
		last := h.d.now()
		h.d.Tick(last.Add(StallMs * time.Millisecond))
		if got := h.got(); len(got) != 0 {
			t.Fatalf("tick at StallMs: %+v", got)
		}
		h.d.Tick(last.Add(StallMs*time.Millisecond + time.Millisecond))
		edgeIs(t, h.got(), Edge{ParticipantID: "alice", AtMs: 200, DurationMs: 200})
		if h.d.Speaking("c")["alice"] {
			t.Error("speaking after the end edge")
		}
		// the stream comes back, still speaking: a new stretch
		edgeIs(t, f.send(2, -20, false), Edge{ParticipantID: "alice", Started: true, AtMs: 300})
	})
}

// TestEndCall closes open stretches at the call's end or at their last
// speech frame's end, whichever is earlier, and forgets the call.
func TestEndCall(t *testing.T) {
	h := newHarness()
	a, b := h.feeder("alice"), h.feeder("bob")
	a.send(50, -20, false) // speaking to 1000
	b.send(10, -20, false)
	b.send(10, SilenceDB, false) // spoke to 200, in the hangover
	h.got()
	h.d.EndCall("c", 900)
	edgeIs(t, h.got(),
		Edge{ParticipantID: "bob", AtMs: 200, DurationMs: 200},
		Edge{ParticipantID: "alice", AtMs: 900, DurationMs: 900})
	if got := h.d.Speaking("c"); got != nil {
		t.Errorf("speaking %v after EndCall", got)
	}
	h.d.EndCall("c", 1000)
	h.d.EndCall("other", 0)
	if got := h.got(); len(got) != 0 {
		t.Errorf("EndCall of a forgotten call: %+v", got)
	}
	// an end before the start (a clock gone wrong) is a stretch of nothing
	edgeIs(t, a.send(5, -20, false), Edge{ParticipantID: "alice", Started: true, AtMs: 1000})
	h.d.EndCall("c", 0)
	edgeIs(t, h.got(), Edge{ParticipantID: "alice", AtMs: 1000})
}

// TestPacketsWithoutLevelsSayNothing: packet frames without a level never
// start speech and, like silence, end a stretch after the hangover.
func TestPacketsWithoutLevelsSayNothing(t *testing.T) {
	h := newHarness()
	got := h.play(script{src: source{spans: []span{{0, 10_000}}}, totalMs: 10_000, format: noLevelPackets}, "alice")
	if len(got) != 0 {
		t.Fatalf("packets without levels: %+v", got)
	}
	f := h.feeder("bob")
	edgeIs(t, f.packet(40, 20, true), Edge{ParticipantID: "bob", Started: true, AtMs: 0})
	f.packet(20, 20, true)
	for range 15 {
		if got := f.packet(20, 0, false); len(got) != 0 {
			t.Fatalf("within the hangover: %+v", got)
		}
	}
	edgeIs(t, f.packet(20, 0, false), Edge{ParticipantID: "bob", AtMs: 60, DurationMs: 60})
}

// ssrcOf gives each test participant an SSRC of its own.
func ssrcOf(who string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(who))
	return h.Sum32()
}

// A stream no roster names yet is listened to all the same: its edges wait
// until a frame names it and then go out at their own times; a stream never
// named goes out as ssrc-{n} when the call ends.
func TestEdgesOfUnnamedStreamsWaitForTheName(t *testing.T) {
	h := newHarness()
	frame := func(ms int64, who string, ssrc uint32, db float64) {
		h.advance(ms + 20)
		h.d.Frame(&audio.Frame{CallID: "c", ParticipantID: who, SSRC: ssrc, MediaTimeMs: ms, PCM: squareAt(db), Duration: 20 * time.Millisecond})
	}
	for ms := int64(0); ms < 1000; ms += 20 {
		frame(ms, "", 7, -20) // speaks from 0 to 1 s, unnamed
	}
	for ms := int64(1000); ms < 1600; ms += 20 {
		frame(ms, "", 7, -90) // quiet: the stretch ends, unnamed
	}
	if got := h.got(); len(got) != 0 || len(h.d.Speaking("c")) != 0 {
		t.Fatalf("edges of an unnamed stream went out: %+v, speaking %v", got, h.d.Speaking("c"))
	}
	frame(1600, "alice", 7, -90) // the roster names it
	got := h.got()
	if len(got) != 2 || got[0].e != (Edge{ParticipantID: "alice", Started: true, AtMs: 0}) || got[1].e != (Edge{ParticipantID: "alice", AtMs: 1000, DurationMs: 1000}) {
		t.Errorf("once named: %+v, want alice's stretch from 0 to 1000 ms", got)
	}
	for ms := int64(0); ms < 400; ms += 20 {
		frame(ms, "", 9, -20) // another source, never named
	}
	h.d.EndCall("c", 400)
	got = h.got()
	if len(got) != 2 || got[0].e.ParticipantID != "ssrc-9" || !got[0].e.Started || got[1].e.ParticipantID != "ssrc-9" || got[1].e.AtMs != 400 {
		t.Errorf("at the end of the call: %+v, want ssrc-9's stretch", got)
	}
}

// TestSpeakingPerParticipant lists the call's participants heard, each
// speaking or not; nil for a call not heard.
func TestSpeakingPerParticipant(t *testing.T) {
	h := newHarness()
	h.feeder("alice").send(5, -20, false)
	h.feeder("bob").send(5, -60, false)
	got := h.d.Speaking("c")
	if len(got) != 2 || !got["alice"] || got["bob"] {
		t.Errorf("speaking %v, want alice and not bob", got)
	}
	if got := h.d.Speaking("other"); got != nil {
		t.Errorf("a call not heard: %v", got)
	}
}

// TestOnEdgeMayCallSpeaking: onEdge runs without the detector's lock, and
// sees the state after the edge.
func TestOnEdgeMayCallSpeaking(t *testing.T) {
	var d *Detector
	var seen []bool
	d = New(func(callID string, e Edge) { seen = append(seen, d.Speaking(callID)[e.ParticipantID]) })
	pcm := squareAt(-20)
	for ms := int64(0); ms < 100; ms += 20 {
		d.Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", MediaTimeMs: ms, PCM: pcm, Duration: 20 * time.Millisecond})
	}
	d.Tick(time.Now().Add(2 * StallMs * time.Millisecond))
	if len(seen) != 2 || !seen[0] || seen[1] {
		t.Errorf("speaking as seen from onEdge %v, want [true false]", seen)
	}
	New(nil).Frame(&audio.Frame{CallID: "c", ParticipantID: "alice", PCM: pcm, Duration: 40 * time.Millisecond}) // no onEdge: fine
}

// TestEdgesInOrderUnderConcurrency feeds frames on one goroutine while
// others tick (some far ahead, as a stalled stream looks), end calls and
// read who is speaking: each participant's edges alternate, a start before
// its end, on a clock that never goes back.
func TestEdgesInOrderUnderConcurrency(t *testing.T) {
	type key struct{ call, who string }
	var mu sync.Mutex
	last := map[key]Edge{}
	var bad []string
	d := New(func(callID string, e Edge) {
		mu.Lock()
		defer mu.Unlock()
		k := key{callID, e.ParticipantID}
		p, ok := last[k]
		switch {
		case !ok && !e.Started, ok && p.Started == e.Started, ok && e.AtMs < p.AtMs,
			!e.Started && e.DurationMs != e.AtMs-p.AtMs:
			bad = append(bad, callID+"/"+e.ParticipantID)
		}
		last[k] = e
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.Tick(time.Now().Add(time.Duration(rng.IntN(600)) * time.Millisecond))
			d.Speaking("c0")
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.Speaking("c1")
			time.Sleep(time.Microsecond)
		}
	})
	loud, quiet := squareAt(-20), make([]int16, frameLen)
	rng := rand.New(rand.NewPCG(5, 6))
	ms := map[string]int64{}
	for i := range 20_000 {
		call := []string{"c0", "c1"}[i%2]
		who := []string{"alice", "bob", "carol"}[rng.IntN(3)]
		k := call + who
		pcm := quiet
		if (ms[k]/400)%2 == 0 {
			pcm = loud
		}
		if rng.IntN(50) == 0 {
			ms[k] += int64(rng.IntN(600)) // DTX
		}
		d.Frame(&audio.Frame{CallID: call, ParticipantID: who, SSRC: ssrcOf(who), MediaTimeMs: ms[k], PCM: pcm, Duration: 20 * time.Millisecond})
		ms[k] += 20
		if i%5000 == 4999 {
			d.EndCall("c1", ms["c1alice"]) // the call starts afresh with its next frame
		}
	}
	close(stop)
	wg.Wait()
	d.EndCall("c0", math.MaxInt64)
	d.EndCall("c1", math.MaxInt64)
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("edges out of order for %v", bad[:min(len(bad), 10)])
	}
	for k, e := range last {
		if e.Started {
			t.Errorf("%v: a stretch left open", k)
		}
	}
}

// TestFrameDoesNotAllocate in steady state, edges included.
func TestFrameDoesNotAllocate(t *testing.T) {
	edges := 0
	d := New(func(string, Edge) { edges++ })
	voice, quiet := make([]int16, frameLen), make([]int16, frameLen)
	fillVoice(voice, 0)
	f := &audio.Frame{CallID: "c", ParticipantID: "alice", SampleRate: testRate, Duration: 20 * time.Millisecond}
	p := &audio.Frame{CallID: "c", ParticipantID: "bob", Payload: []byte{1}, HasLevel: true, Duration: 20 * time.Millisecond}
	i := 0
	step := func() {
		// half a second of speech, half a second of quiet: an edge a
		// half second
		f.PCM, p.Level = voice, 20
		if (i/25)%2 == 1 {
			f.PCM, p.Level = quiet, 127
		}
		f.MediaTimeMs, p.MediaTimeMs = int64(i)*20, int64(i)*20
		d.Frame(f)
		d.Frame(p)
		i++
	}
	for range 100 {
		step()
	}
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Errorf("%v allocs per frame", allocs)
	}
	if edges < 20 {
		t.Errorf("only %d edges", edges)
	}
}

// BenchmarkDetectorFrame is the cost of a frame: a decoded 320-sample
// frame (energy measured) and a packet frame with a level.
func BenchmarkDetectorFrame(b *testing.B) {
	b.Run("pcm-320", func(b *testing.B) {
		d := New(func(string, Edge) {})
		pcm := make([]int16, frameLen)
		fillVoice(pcm, 0)
		f := &audio.Frame{CallID: "c", ParticipantID: "alice", PCM: pcm, SampleRate: testRate, Duration: 20 * time.Millisecond}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f.MediaTimeMs = int64(i) * 20
			d.Frame(f)
		}
	})
	b.Run("packet-level", func(b *testing.B) {
		d := New(func(string, Edge) {})
		f := &audio.Frame{CallID: "c", ParticipantID: "alice", Payload: []byte{1}, Level: 20, HasLevel: true, Duration: 20 * time.Millisecond}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f.MediaTimeMs = int64(i) * 20
			d.Frame(f)
		}
	})
}

// Levels says how loud each participant's latest frame was, silence once
// none came for half a second, and names only named sources.
func TestLevelsFollowTheLatestFrame(t *testing.T) {
	h := newHarness()
	h.feeder("alice").send(3, -20, false)
	h.feeder("bob").packet(20, 35, true)
	now := h.d.now()
	got := h.d.Levels("c", now)
	if len(got) != 2 || math.Abs(got["alice"]+20) > 0.1 || got["bob"] != -35 {
		t.Errorf("levels %v, want alice at -20 and bob at -35", got)
	}
	if got := h.d.Levels("c", now.Add(time.Second)); got["alice"] != SilenceDB || got["bob"] != SilenceDB {
		t.Errorf("a second later: %v, want silence", got)
	}
	if got := h.d.Levels("other", now); got != nil {
		t.Errorf("a call not heard: %v", got)
	}
}
