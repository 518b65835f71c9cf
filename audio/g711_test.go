package audio

import (
	"fmt"
	"math"
	"math/bits"
	"testing"
)

// specULaw decodes one µ-law code the way ITU-T G.711 tabulates it: after
// inverting the bits, sign s, segment e and step m give the magnitude
// ((2m+33) << e) - 33 in 14-bit units, scaled here to 16 bits.
func specULaw(code byte) int16 {
	c := ^code
	e, m := int((c>>4)&7), int(c&0x0F)
	mag := (((2*m + 33) << e) - 33) * 4
	if c&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// specALaw decodes one A-law code as G.711 tabulates it: after XOR 0x55,
// segment 0 gives (2m+1) and segment e >= 1 gives (2m+33) << (e-1), in
// 13-bit half-steps scaled here to 16 bits; a set sign bit is positive.
func specALaw(code byte) int16 {
	c := code ^ 0x55
	e, m := int((c>>4)&7), int(c&0x0F)
	mag := 2*m + 1
	if e > 0 {
		mag = (2*m + 33) << (e - 1)
	}
	mag *= 8
	if c&0x80 != 0 {
		return int16(mag)
	}
	return int16(-mag)
}

// encodeULaw is a test-only G.711 µ-law encoder (truncating, like the
// reference implementations).
func encodeULaw(s int16) byte {
	v := int32(s)
	sign := byte(0)
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, 32635) + 0x84
	e := max(bits.Len32(uint32(v))-8, 0)
	m := byte(v>>(e+3)) & 0x0F
	return ^(sign | byte(e)<<4 | m)
}

// encodeALaw is a test-only G.711 A-law encoder.
func encodeALaw(s int16) byte {
	v := int32(s)
	sign := byte(0x80)
	if v < 0 {
		v, sign = -v, 0
	}
	v = min(v, 32767)
	var a byte
	if v < 256 {
		a = byte(v >> 4)
	} else {
		e := bits.Len32(uint32(v)) - 8
		a = byte(e)<<4 | byte(v>>(e+3))&0x0F
	}
	return (sign | a) ^ 0x55
}

func TestULawTableMatchesSpecForEveryCode(t *testing.T) {
	for c := range 256 {
		if got, want := ulawTable[c], specULaw(byte(c)); got != want {
			t.Errorf("µ-law 0x%02X: table %d, spec %d", c, got, want)
		}
	}
}

func TestALawTableMatchesSpecForEveryCode(t *testing.T) {
	for c := range 256 {
		if got, want := alawTable[c], specALaw(byte(c)); got != want {
			t.Errorf("A-law 0x%02X: table %d, spec %d", c, got, want)
		}
	}
}

func TestDecodeULawAndALawKnownCodes(t *testing.T) {
	tests := []struct {
		law    string
		decode func([]int16, []byte) []int16
		code   byte
		want   int16
	}{
		{"ULaw", DecodeULaw, 0xFF, 0},
		{"ULaw", DecodeULaw, 0x7F, 0},
		{"ULaw", DecodeULaw, 0x00, -32124},
		{"ULaw", DecodeULaw, 0x80, 32124},
		{"ALaw", DecodeALaw, 0xD5, 8},
		{"ALaw", DecodeALaw, 0x55, -8},
		{"ALaw", DecodeALaw, 0x2A, -32256},
		{"ALaw", DecodeALaw, 0xAA, 32256},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s_0x%02X", tt.law, tt.code), func(t *testing.T) {
			if got := tt.decode(nil, []byte{tt.code}); got[0] != tt.want {
				t.Errorf("got %d, want %d", got[0], tt.want)
			}
		})
	}
}

// TestULawAndALawGrowWithMagnitudeCode walks the 128 magnitude codes of each
// sign from quietest to loudest: positive values strictly rise and the
// negative code of the same magnitude mirrors them.
func TestULawAndALawGrowWithMagnitudeCode(t *testing.T) {
	laws := []struct {
		name          string
		table         *[256]int16
		positive, neg func(k int) byte
	}{
		// µ-law: bits inverted, so 0xFF is +0 and 0x80 is the loudest positive.
		{"ULaw", &ulawTable, func(k int) byte { return ^byte(k) }, func(k int) byte { return ^byte(0x80 | k) }},
		// A-law: even bits inverted, sign bit set for positive.
		{"ALaw", &alawTable, func(k int) byte { return byte(0x80|k) ^ 0x55 }, func(k int) byte { return byte(k) ^ 0x55 }},
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			prev := int16(-1)
			for k := range 128 {
				pos, neg := law.table[law.positive(k)], law.table[law.neg(k)]
				if pos <= prev {
					t.Errorf("magnitude code %d: %d not above %d", k, pos, prev)
				}
				if neg != -pos {
					t.Errorf("magnitude code %d: negative %d does not mirror %d", k, neg, pos)
				}
				prev = pos
			}
		})
	}
}

// TestG711TestEncodersInvertTheTables checks the test-only encoders used
// below: every code survives decode-then-encode, except µ-law's -0 (0x7F),
// which comes back as +0 (0xFF).
func TestG711TestEncodersInvertTheTables(t *testing.T) {
	for c := range 256 {
		want := byte(c)
		if want == 0x7F {
			want = 0xFF
		}
		if got := encodeULaw(ulawTable[c]); got != want {
			t.Errorf("µ-law 0x%02X: re-encoded as 0x%02X", c, got)
		}
		if got := encodeALaw(alawTable[c]); got != byte(c) {
			t.Errorf("A-law 0x%02X: re-encoded as 0x%02X", c, got)
		}
	}
}

// TestG711RoundTripOfSineKeepsSNR encodes a 1 kHz sine at 8 kHz and decodes
// it again: G.711's ~38 dB SNR holds over a wide range of levels.
func TestG711RoundTripOfSineKeepsSNR(t *testing.T) {
	laws := []struct {
		name   string
		encode func(int16) byte
		decode func([]int16, []byte) []int16
	}{
		{"ULaw", encodeULaw, DecodeULaw},
		{"ALaw", encodeALaw, DecodeALaw},
	}
	for _, law := range laws {
		for _, dBFS := range []float64{-1, -6, -20} {
			t.Run(fmt.Sprintf("%s_%gdBFS", law.name, dBFS), func(t *testing.T) {
				ref := sine(8000, 1000, 32767*math.Pow(10, dBFS/20), 0, 8000)
				codes := make([]byte, len(ref))
				for i, v := range ref {
					codes[i] = law.encode(int16(math.Round(v)))
				}
				got := law.decode(nil, codes)
				snr := snrDB(ref, got)
				t.Logf("SNR %.1f dB", snr)
				if snr < 30 {
					t.Errorf("SNR %.1f dB, want > 30 dB", snr)
				}
			})
		}
	}
}

func TestDecodeULawAndALawReuseDst(t *testing.T) {
	src := make([]byte, 160)
	buf := make([]int16, 0, 160)
	for name, decode := range map[string]func([]int16, []byte) []int16{"ULaw": DecodeULaw, "ALaw": DecodeALaw} {
		var got []int16
		allocs := testing.AllocsPerRun(100, func() { got = decode(buf, src) })
		if allocs != 0 {
			t.Errorf("%s: %v allocs per 20 ms frame, want 0", name, allocs)
		}
		if len(got) != len(src) || &got[0] != &buf[:1][0] {
			t.Errorf("%s: len %d, want %d in dst's own array", name, len(got), len(src))
		}
	}
	if got := DecodeULaw(make([]int16, 0, 4), src); len(got) != 160 {
		t.Errorf("short cap: len %d, want 160", len(got))
	}
}

func BenchmarkDecodeULaw(b *testing.B) {
	src := make([]byte, 160) // 20 ms at 8 kHz
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, 0, len(src))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst = DecodeULaw(dst, src)
	}
}

func ExampleDecodeULaw() {
	pcm := DecodeULaw(nil, []byte{0xFF, 0x80, 0x00})
	fmt.Println(pcm)
	// Output: [0 32124 -32124]
}

// sine returns n samples of amp·sin(2π·freq·(i-delay)/rate).
func sine(rate, freq, amp, delay float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = amp * math.Sin(2*math.Pi*freq*(float64(i)-delay)/rate)
	}
	return s
}

// snrDB is the ratio of ref's power to the power of got - ref, in dB.
func snrDB(ref []float64, got []int16) float64 {
	var sig, noise float64
	for i, r := range ref {
		d := float64(got[i]) - r
		sig += r * r
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}
