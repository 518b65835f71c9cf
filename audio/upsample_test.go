package audio

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// upsampleChunked feeds src through u in 20 ms (160-sample) chunks, the way
// a phone leg delivers it, and returns the joined output.
func upsampleChunked(u *Upsampler, src []int16) []int16 {
	var out, buf []int16
	for len(src) > 0 {
		n := min(160, len(src))
		buf = u.Process(buf, src[:n])
		out = append(out, buf...)
		src = src[n:]
	}
	return out
}

func mustUpsampler(t testing.TB, ratio int) *Upsampler {
	t.Helper()
	u, err := NewUpsampler(ratio)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func quantize(s []float64) []int16 {
	q := make([]int16, len(s))
	for i, v := range s {
		q[i] = int16(math.Round(v))
	}
	return q
}

// goertzelPower is the power of x at freq (Hz) for sample rate rate.
func goertzelPower(x []int16, freq, rate float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+coeff*s1-s2, s1
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

// TestUpsamplerTurnsSineIntoSineAtNewRate: a 1 kHz tone at 8 kHz, fed in
// 20 ms chunks, comes out as the same tone at the new rate, Delay() samples
// late, and its images around multiples of 8 kHz are filtered out.
func TestUpsamplerTurnsSineIntoSineAtNewRate(t *testing.T) {
	const amp = 16384 // -6 dBFS
	for _, ratio := range []int{2, 3, 6} {
		t.Run(fmt.Sprintf("x%d", ratio), func(t *testing.T) {
			u := mustUpsampler(t, ratio)
			rate := 8000 * float64(ratio)
			got := upsampleChunked(u, quantize(sine(8000, 1000, amp, 0, 8000)))
			ideal := sine(rate, 1000, amp, float64(u.Delay()), len(got))

			// Steady part: the last half second, whole cycles of every tone
			// measured, so Goertzel bins do not leak into each other.
			steady := len(got) / 2
			snr := snrDB(ideal[steady:], got[steady:])
			t.Logf("SNR %.1f dB against the ideal 1 kHz sine at %g Hz (delay %d samples)", snr, rate, u.Delay())
			if snr < 30 {
				t.Errorf("SNR %.1f dB, want > 30 dB", snr)
			}

			tone := goertzelPower(got[steady:], 1000, rate)
			for image := 7000.0; image < rate/2; image += 8000 {
				for _, f := range []float64{image, image + 2000} { // k·8 kHz ∓ 1 kHz
					if f >= rate/2 {
						continue
					}
					att := 10 * math.Log10(tone/goertzelPower(got[steady:], f, rate))
					t.Logf("image at %g Hz: %.1f dB below the tone", f, att)
					if att < 30 {
						t.Errorf("image at %g Hz only %.1f dB below the tone, want >= 30 dB", f, att)
					}
				}
			}
		})
	}
}

func TestUpsamplerChunkedEqualsOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]int16, 8000)
	for i := range src {
		src[i] = int16(rng.IntN(65536) - 32768)
	}
	for _, ratio := range []int{1, 2, 3, 6} {
		t.Run(fmt.Sprintf("x%d", ratio), func(t *testing.T) {
			whole := mustUpsampler(t, ratio).Process(nil, src)
			if got := upsampleChunked(mustUpsampler(t, ratio), src); !slices.Equal(got, whole) {
				t.Error("160-sample chunks differ from one call")
			}
			// Odd chunk sizes, including empty ones, join just as well.
			u := mustUpsampler(t, ratio)
			var got []int16
			for rest := src; len(rest) > 0; {
				n := min(rng.IntN(200), len(rest))
				got = append(got, u.Process(nil, rest[:n])...)
				rest = rest[n:]
			}
			if !slices.Equal(got, whole) {
				t.Error("random chunks differ from one call")
			}
		})
	}
}

func TestUpsamplerOutputLengthIsRatioTimesInput(t *testing.T) {
	for _, ratio := range []int{1, 2, 3, 6} {
		u := mustUpsampler(t, ratio)
		for _, n := range []int{0, 1, 159, 160, 161, 960} {
			if got := len(u.Process(nil, make([]int16, n))); got != ratio*n {
				t.Errorf("x%d of %d samples: %d out, want %d", ratio, n, got, ratio*n)
			}
		}
	}
}

// TestUpsamplerSaturatesFullScale: a full-scale square wave overshoots at
// its edges (Gibbs); those samples must clip to the int16 range, not wrap.
func TestUpsamplerSaturatesFullScale(t *testing.T) {
	src := make([]int16, 800)
	for i := range src {
		src[i] = math.MaxInt16
		if i/4%2 == 1 { // 1 kHz at 8 kHz
			src[i] = math.MinInt16
		}
	}
	for _, ratio := range []int{2, 3, 6} {
		t.Run(fmt.Sprintf("x%d", ratio), func(t *testing.T) {
			u := mustUpsampler(t, ratio)
			got := u.Process(nil, src)
			overshoots := 0
			for n, y := range got {
				// Unsaturated reference from the same taps in int64.
				m, p := n/ratio, n%ratio
				var acc int64
				for k := range upsampleTaps {
					if m-k >= 0 {
						acc += int64(u.coef[p*upsampleTaps+k]) * int64(src[m-k])
					}
				}
				acc = (acc + 1<<(coefShift-1)) >> coefShift
				if acc > math.MaxInt16 || acc < math.MinInt16 {
					overshoots++
				}
				if want := int16(min(max(acc, math.MinInt16), math.MaxInt16)); y != want {
					t.Fatalf("sample %d: %d, want %d (unsaturated %d)", n, y, want, acc)
				}
			}
			if overshoots == 0 {
				t.Fatal("no sample overshot: the test does not exercise saturation")
			}
			t.Logf("%d of %d samples clipped", overshoots, len(got))
		})
	}
}

// TestUpsamplerPassesDCExactly: each phase has a DC gain of exactly one, so
// constant input, full scale included, comes out unchanged once the history
// is full.
func TestUpsamplerPassesDCExactly(t *testing.T) {
	for _, ratio := range []int{2, 3, 6} {
		for _, level := range []int16{math.MaxInt16, math.MinInt16, 1000, -1} {
			u := mustUpsampler(t, ratio)
			got := u.Process(nil, slices.Repeat([]int16{level}, 160))
			for n, y := range got[upsampleTaps*ratio:] {
				if y != level {
					t.Fatalf("x%d, level %d: sample %d is %d", ratio, level, n, y)
				}
			}
		}
	}
}

// TestUpsamplerAccumulatorCannotOverflow backs firPhase's int32 claim: the
// worst-case sum of one phase stays within 2^31.
func TestUpsamplerAccumulatorCannotOverflow(t *testing.T) {
	for _, ratio := range []int{2, 3, 6} {
		u := mustUpsampler(t, ratio)
		for p := range ratio {
			var sum int64
			for _, c := range u.coef[p*upsampleTaps : (p+1)*upsampleTaps] {
				sum += int64(max(c, -c))
			}
			if sum >= 2<<coefShift {
				t.Errorf("x%d phase %d: sum |taps| %d, want < %d", ratio, p, sum, 2<<coefShift)
			}
		}
	}
}

func TestUpsamplerResetForgetsHistory(t *testing.T) {
	src := quantize(sine(8000, 1000, 20000, 0, 160))
	u := mustUpsampler(t, 6)
	first := u.Process(nil, src)
	u.Process(nil, src)
	u.Reset()
	if got := u.Process(nil, src); !slices.Equal(got, first) {
		t.Error("output after Reset differs from a fresh Upsampler's")
	}
}

func TestUpsamplerRatioOneIsPassThrough(t *testing.T) {
	u := mustUpsampler(t, 1)
	src := []int16{1, -2, 32767, -32768}
	if got := u.Process(nil, src); !slices.Equal(got, src) || u.Delay() != 0 {
		t.Errorf("got %v delay %d, want %v delay 0", got, u.Delay(), src)
	}
}

func TestNewUpsamplerRefusesOtherRatios(t *testing.T) {
	for _, ratio := range []int{-1, 0, 4, 5, 7, 12} {
		if _, err := NewUpsampler(ratio); !errors.Is(err, ErrUpsampleRatio) {
			t.Errorf("NewUpsampler(%d): err %v, want ErrUpsampleRatio", ratio, err)
		}
	}
}

func TestUpsamplerProcessDoesNotAllocate(t *testing.T) {
	src := quantize(sine(8000, 1000, 20000, 0, 160))
	for _, ratio := range []int{1, 2, 6} {
		u := mustUpsampler(t, ratio)
		dst := make([]int16, 0, ratio*len(src))
		if allocs := testing.AllocsPerRun(100, func() { dst = u.Process(dst, src) }); allocs != 0 {
			t.Errorf("x%d: %v allocs per 20 ms chunk, want 0", ratio, allocs)
		}
	}
}

func BenchmarkUpsample6(b *testing.B) {
	u := mustUpsampler(b, 6)
	src := quantize(sine(8000, 1000, 20000, 0, 160)) // 20 ms
	dst := make([]int16, 0, 6*len(src))
	b.ReportAllocs()
	for b.Loop() {
		dst = u.Process(dst, src)
	}
}

func ExampleUpsampler() {
	u, err := NewUpsampler(6) // 8 kHz G.711 to 48 kHz
	if err != nil {
		panic(err)
	}
	pcm := DecodeULaw(nil, make([]byte, 160)) // one 20 ms PCMU payload
	out := u.Process(nil, pcm)
	fmt.Println(len(out), "samples, delay", u.Delay())
	// Output: 960 samples, delay 23
}
