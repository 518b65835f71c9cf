package graphsim

import (
	"math"
	"testing"

	"github.com/mediabot-dev/mediabot/audio"
)

// A voice encoded to µ-law and decoded by the bot's own decoder comes back
// with the quality G.711 promises (about 38 dB SNR on a loud signal).
func TestULawRoundTripsThroughTheBotsDecoder(t *testing.T) {
	pcm := Voice{FundamentalHz: 500, SyllableHz: 4}.SamplesAt(pcmuRate, 0, pcmuRate)
	got := audio.DecodeULaw(nil, encodeULaw(nil, pcm))
	var sig, noise float64
	for i, s := range pcm {
		d := float64(got[i]) - float64(s)
		sig += float64(s) * float64(s)
		noise += d * d
	}
	if snr := 10 * math.Log10(sig/noise); snr < 30 {
		t.Errorf("SNR %.1f dB, want > 30 dB", snr)
	}
}

// Every code the decoder knows encodes back to itself (bar µ-law's two
// zeros, which both decode to 0), and the extremes clip rather than wrap.
func TestULawEncodesEveryDecodedLevelBackToItsCode(t *testing.T) {
	var codes [256]byte
	for i := range codes {
		codes[i] = byte(i)
	}
	levels := audio.DecodeULaw(nil, codes[:])
	for c, level := range levels {
		got := linearToULaw(level)
		if got != byte(c) && !(level == 0 && (got == 0xFF || got == 0x7F)) {
			t.Errorf("code %#02x decodes to %d, which encodes to %#02x", c, level, got)
		}
	}
	for _, tc := range []struct {
		in   int16
		want byte
	}{{math.MaxInt16, 0x80}, {math.MinInt16, 0x00}, {0, 0xFF}} {
		if got := linearToULaw(tc.in); got != tc.want {
			t.Errorf("linearToULaw(%d) = %#02x, want %#02x", tc.in, got, tc.want)
		}
	}
}

// The encoder reuses the caller's buffer when it is large enough.
func TestEncodeULawReusesDst(t *testing.T) {
	dst := make([]byte, 0, pcmuFrame)
	pcm := make([]int16, pcmuFrame)
	if allocs := testing.AllocsPerRun(100, func() { dst = encodeULaw(dst, pcm) }); allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}
