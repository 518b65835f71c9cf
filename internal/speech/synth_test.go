package speech

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
)

// The synthetic participant: a voice-like signal (a 220 Hz tone under a
// syllable envelope going 0.2..1.0 of a -12 dBFS peak four times a second)
// during its spans, optional steady background noise, at 16 kHz.
const (
	testRate   = 16000
	frameLen   = testRate * audio.FrameMs / 1000 // 320 samples
	toneHz     = 220.0
	syllableHz = 4.0
	voicePeak  = 0.2512 * 32767 // -12 dBFS
)

// span is a stretch [from, to) of media time, ms.
type span struct{ from, to int64 }

// source is what one participant says: voice during spans, over background
// noise of noiseDB dBFS RMS (0: digital silence between).
type source struct {
	spans   []span
	noiseDB float64
	rng     *rand.Rand
}

// fill writes the source's samples from media time startMs into pcm.
func (s *source) fill(pcm []int16, startMs int64) {
	noise := 0.0
	if s.noiseDB != 0 {
		noise = math.Pow(10, s.noiseDB/20) * 32768
		if s.rng == nil {
			s.rng = rand.New(rand.NewPCG(1, 2))
		}
	}
	for i := range pcm {
		tms := float64(startMs) + float64(i)*1000/testRate
		v := 0.0
		for _, sp := range s.spans {
			if tms >= float64(sp.from) && tms < float64(sp.to) {
				v = voice((tms - float64(sp.from)) / 1000)
			}
		}
		if noise != 0 {
			v += noise * s.rng.NormFloat64()
		}
		pcm[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
}

// voice is the voice-like signal sec into a span: its envelope starts at
// its quietest (0.2), so the span's first frame is its hardest.
func voice(sec float64) float64 {
	env := 0.6 - 0.4*math.Cos(2*math.Pi*syllableHz*sec)
	return voicePeak * env * math.Sin(2*math.Pi*toneHz*sec)
}

// fillVoice writes n frames' worth of continuous voice into pcm.
func fillVoice(pcm []int16, startSample int) {
	for i := range pcm {
		pcm[i] = int16(voice(float64(startSample+i) / testRate))
	}
}

// format is how the participant's frames reach the detector.
type format int

const (
	pcmFrames      format = iota // decoded, no level
	pcmWithLevel                 // decoded, with the sender's level
	levelPackets                 // packet frames with a level, nothing decoded
	noLevelPackets               // packet frames without a level
)

func (f format) String() string {
	return [...]string{"pcm", "pcm+level", "packets+level", "packets"}[f]
}

// level is the RFC 6464 level (-dBov) a sender would put on pcm.
func level(pcm []int16) uint8 {
	return uint8(max(0, min(127, math.Round(-PCMDBFS(pcm)))))
}

// harness feeds a detector on a test clock and records its edges.
type harness struct {
	d     *Detector
	base  time.Time
	wall  int64 // ms since base
	ticks int64 // wall ms of the last Tick

	mu    sync.Mutex
	edges []found
}

func newHarness() *harness {
	h := &harness{base: time.Unix(1_700_000_000, 0)}
	h.d = New(func(callID string, e Edge) {
		h.mu.Lock()
		h.edges = append(h.edges, found{callID, e})
		h.mu.Unlock()
	})
	h.d.now = func() time.Time { return h.base.Add(time.Duration(h.wall) * time.Millisecond) }
	return h
}

// advance moves the wall clock to ms, ticking every 100 ms on the way as
// the bot does.
func (h *harness) advance(ms int64) {
	for next := h.ticks + 100; next <= ms; next += 100 {
		h.wall, h.ticks = next, next
		h.d.Tick(h.d.now())
	}
	h.wall = max(h.wall, ms)
}

// got returns the edges recorded so far, and forgets them.
func (h *harness) got() []found {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.edges
	h.edges = nil
	return out
}

// stretches pairs a participant's edges into stretches, failing the test
// on edges out of order or a wrong duration.
func stretches(t *testing.T, edges []found, who string) []span {
	t.Helper()
	var out []span
	open := false
	for _, f := range edges {
		e := f.e
		if e.ParticipantID != who {
			continue
		}
		switch {
		case e.Started && open, !e.Started && !open:
			t.Fatalf("%s: edge %+v out of order in %+v", who, e, edges)
		case e.Started:
			if n := len(out); n > 0 && e.AtMs < out[n-1].to {
				t.Fatalf("%s: start %d before the previous end %d", who, e.AtMs, out[n-1].to)
			}
			out = append(out, span{from: e.AtMs})
		default:
			s := &out[len(out)-1]
			if e.AtMs < s.from || e.DurationMs != e.AtMs-s.from {
				t.Fatalf("%s: end %+v of a stretch from %d", who, e, s.from)
			}
			s.to = e.AtMs
		}
		open = e.Started
	}
	if open {
		t.Fatalf("%s: stretch from %d never ended", who, out[len(out)-1].from)
	}
	return out
}

// script is a participant's audio and how it is sent.
type script struct {
	src      source
	totalMs  int64
	dtx      []span // no frames sent
	lost     []span // frames lost: concealed (loud guesses) when decoded, missing as packets
	format   format
	packetMs int64 // packet frames' duration; 20 if 0
	endCall  int64 // > 0: EndCall at this media time after the last frame, else ticks run on
}

func in(spans []span, ms int64) bool {
	for _, s := range spans {
		if ms >= s.from && ms < s.to {
			return true
		}
	}
	return false
}

// play feeds the script's frames as participant who of call "c", the wall
// clock following the media clock (a frame comes at its end), and returns
// the edges.
func (h *harness) play(sc script, who string) []found {
	step := int64(audio.FrameMs)
	if sc.format >= levelPackets && sc.packetMs > 0 {
		step = sc.packetMs
	}
	pcm := make([]int16, testRate*step/1000)
	payload := []byte{0xf8, 0xff, 0xfe}
	for ms := int64(0); ms < sc.totalMs; ms += step {
		h.advance(ms + step)
		if in(sc.dtx, ms) {
			continue
		}
		f := audio.Frame{CallID: "c", ParticipantID: who, MediaTimeMs: ms, SampleRate: testRate,
			Duration: time.Duration(step) * time.Millisecond, Arrival: h.d.now()}
		lost := in(sc.lost, ms)
		if lost && sc.format >= levelPackets {
			continue
		}
		sc.src.fill(pcm, ms)
		if lost {
			// the decoder's guess, as loud as speech gets
			for i := range pcm {
				pcm[i] = int16(voicePeak * math.Sin(2*math.Pi*toneHz*float64(i)/testRate))
			}
			f.Concealed = true
		}
		switch sc.format {
		case pcmFrames:
			f.PCM = pcm
		case pcmWithLevel:
			f.PCM, f.Level, f.HasLevel = pcm, level(pcm), true
		case levelPackets:
			f.Payload, f.Level, f.HasLevel = payload, level(pcm), true
		case noLevelPackets:
			f.Payload = payload
		}
		h.d.Frame(&f)
	}
	if sc.endCall > 0 {
		h.d.EndCall("c", sc.endCall)
	} else {
		h.advance(h.wall + 1000)
	}
	return h.got()
}

// merged is what the detector should find in spans: pauses up to the
// hangover bridged.
func merged(spans []span) []span {
	var out []span
	for _, s := range spans {
		if n := len(out); n > 0 && s.from-out[n-1].to <= HangoverMs {
			out[n-1].to = s.to
			continue
		}
		out = append(out, s)
	}
	return out
}

// errors compares found stretches with the expected ones, returning the
// worst onset and end errors (ms), or a description of the mismatch.
func errorsOf(got, want []span) (onset, end int64, mismatch string) {
	if len(got) != len(want) {
		return 0, 0, fmt.Sprintf("%d stretches %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		onset = max(onset, abs(got[i].from-want[i].from))
		end = max(end, abs(got[i].to-want[i].to))
	}
	return onset, end, ""
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
