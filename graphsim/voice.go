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
	packets := make([][]byte, 0, frames)
	buf := make([]byte, maxOpusPayload)
	for i := range frames {
		n, err := enc.Encode(v.Samples(i*opusFrame, opusFrame), buf)
		if err != nil {
			return nil, fmt.Errorf("opus encode: %w", err)
		}
		packets = append(packets, append([]byte(nil), buf[:n]...))
	}
	return packets, nil
}

// EncodePCMU encodes frames 20 ms packets of the voice as G.711 µ-law
// (PCMU, 8 kHz, 160 bytes a packet), as a phone participant's gateway
// sends it.
func (v Voice) EncodePCMU(frames int) [][]byte {
	packets := make([][]byte, frames)
	for i := range packets {
		packets[i] = encodeULaw(nil, v.SamplesAt(pcmuRate, i*pcmuFrame, pcmuFrame))
	}
	return packets
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
