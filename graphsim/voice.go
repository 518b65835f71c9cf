package graphsim

import (
	"fmt"
	"math"

	"gopkg.in/hraban/opus.v2"
)

// opusRate is the rate graphsim encodes Opus at; 20 ms is 960 samples.
// pcmuRate is G.711's fixed rate; 20 ms is 160 samples, one byte each.
const (
	opusRate       = 48000
	opusFrame      = opusRate / 50
	maxOpusPayload = 1000
	pcmuRate       = 8000
	pcmuFrame      = pcmuRate / 50
)

// Voice is a participant's test signal: a voice-like harmonic tone with a
// syllable-rate envelope, distinct per participant by its fundamental, so a
// test can tell whose audio a file holds by its dominant frequency.
type Voice struct {
	// FundamentalHz is the pitch; tests look for it in the decoded audio.
	FundamentalHz float64
	// SyllableHz modulates the loudness like speech (0 = steady tone).
	SyllableHz float64
	// Amplitude is the peak in [0, 1]; 0 means 0.3.
	Amplitude float64
}

// Samples renders the voice at 48 kHz for the given number of samples,
// starting at sample offset start (so a long signal can be made in pieces).
func (v Voice) Samples(start, n int) []int16 { return v.SamplesAt(opusRate, start, n) }

// SamplesAt renders the voice at rate, like Samples. The signal is made at
// that rate, not decimated, so it is free of aliasing as long as its third
// harmonic stays below rate/2: a fundamental under 1333 Hz at 8 kHz.
func (v Voice) SamplesAt(rate, start, n int) []int16 {
	amp := v.Amplitude
	if amp == 0 {
		amp = 0.3
	}
	out := make([]int16, n)
	for i := range out {
		t := float64(start+i) / float64(rate)
		// fundamental plus two weaker harmonics, like a voiced vowel
		s := math.Sin(2*math.Pi*v.FundamentalHz*t) +
			0.25*math.Sin(2*math.Pi*2*v.FundamentalHz*t) +
			0.1*math.Sin(2*math.Pi*3*v.FundamentalHz*t)
		env := 1.0
		if v.SyllableHz > 0 {
			env = 0.6 + 0.4*math.Sin(2*math.Pi*v.SyllableHz*t)
		}
		out[i] = int16(amp * env * s / 1.35 * math.MaxInt16)
	}
	return out
}

// EncodeOpus encodes frames 20 ms packets of the voice as Opus (48 kHz
// mono, VoIP mode, in-band FEC on), once, so that a call can replay them.
func (v Voice) EncodeOpus(frames int) ([][]byte, error) {
	e, err := v.encodeOpus(frames)
	return e.payloads, err
}

// EncodePCMU encodes frames 20 ms packets of the voice as G.711 µ-law
// (PCMU, 8 kHz, 160 bytes a packet), as a phone participant's gateway
// sends it.
func (v Voice) EncodePCMU(frames int) [][]byte { return v.encodePCMU(frames).payloads }

// encoding is a voice's packets as graphsim sends them: the payloads, and
// the RFC 6464 audio level byte of each, measured on the very PCM encoded
// into it (see audioLevel), so that sending a level costs nothing.
type encoding struct {
	payloads [][]byte
	levels   []byte
}

func (v Voice) encodeOpus(frames int) (encoding, error) {
	enc, err := newOpusEncoder()
	if err != nil {
		return encoding{}, err
	}
	e := encoding{payloads: make([][]byte, 0, frames), levels: make([]byte, 0, frames)}
	buf := make([]byte, maxOpusPayload)
	for i := range frames {
		pcm := v.Samples(i*opusFrame, opusFrame)
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			return encoding{}, fmt.Errorf("opus encode: %w", err)
		}
		e.payloads = append(e.payloads, append([]byte(nil), buf[:n]...))
		e.levels = append(e.levels, audioLevel(pcm))
	}
	return e, nil
}

// newOpusEncoder is the encoder of every Opus packet graphsim sends, voice
// and silence alike: 48 kHz mono, VoIP mode, in-band FEC for 5 % loss.
func newOpusEncoder() (*opus.Encoder, error) {
	enc, err := opus.NewEncoder(opusRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	if err := enc.SetInBandFEC(true); err != nil {
		return nil, fmt.Errorf("opus encoder FEC: %w", err)
	}
	if err := enc.SetPacketLossPerc(5); err != nil {
		return nil, fmt.Errorf("opus encoder loss: %w", err)
	}
	return enc, nil
}

func (v Voice) encodePCMU(frames int) encoding {
	e := encoding{payloads: make([][]byte, frames), levels: make([]byte, frames)}
	for i := range e.payloads {
		pcm := v.SamplesAt(pcmuRate, i*pcmuFrame, pcmuFrame)
		e.payloads[i] = encodeULaw(nil, pcm)
		e.levels[i] = audioLevel(pcm)
	}
	return e
}

// Audio levels as RFC 6464 puts them in its one-byte header extension: the
// V bit (the sender believes the packet holds voice) and the level in
// -dBov, 0 the loudest and 127 silence (anything at -127 dBov or below).
const (
	levelVoiced = 0x80
	levelSilent = 127
)

// silentLevel is the level byte of a packet of silence: -127 dBov, V
// clear. Shared and never written.
var silentLevel = []byte{levelSilent}

// audioLevel is the RFC 6464 level byte of one frame of PCM: its RMS in
// -dBov (RFC 6465's dBov: 0 dBov is the RMS of a full-scale square wave, so
// a full-scale sine is at -3 dBov), rounded, and the V bit set unless the
// frame is silent (level 127): graphsim sends a voice only while its
// participant talks, so every frame of it with sound is voice.
func audioLevel(pcm []int16) byte {
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	if len(pcm) == 0 || sum == 0 {
		return levelSilent
	}
	dBov := 10 * math.Log10(sum/float64(len(pcm))/(32768*32768))
	level := min(max(math.Round(-dBov), 0), levelSilent)
	if level >= levelSilent {
		return levelSilent
	}
	return levelVoiced | byte(level)
}

// NamedVoice is a speaker of Cast.
type NamedVoice struct {
	Name  string
	Voice Voice
}

// Cast is six speakers with distinct pitches and speech rhythms, for demos
// and for calls played from the command line.
var Cast = []NamedVoice{
	{"Alice", Voice{FundamentalHz: 220, SyllableHz: 4}},
	{"Bob", Voice{FundamentalHz: 130, SyllableHz: 3}},
	{"Carol", Voice{FundamentalHz: 330, SyllableHz: 5}},
	{"Dave", Voice{FundamentalHz: 165, SyllableHz: 3.5}},
	{"Erin", Voice{FundamentalHz: 260, SyllableHz: 4.5}},
	{"Frank", Voice{FundamentalHz: 110, SyllableHz: 2.5}},
}
