package audio

import (
	"fmt"
	"math"
)

// Filter design of the upsampler. Eight taps per phase keep it cheap (eight
// multiply-adds per output sample) and the delay short, at the price of a
// soft band edge: the response is within 0.1 dB to about 2 kHz, -1.7 dB at
// 3 kHz, -3 dB near 3.3 kHz, -3.4 dB at 3.4 kHz (the top of the telephone
// band) and -8 dB at 4 kHz. Images fall 15 dB at 4.6 kHz (the mirror of
// 3.4 kHz), 21 dB at 5 kHz and more than 58 dB from 6 kHz on, for every
// ratio. The Kaiser window (beta 6) trades transition width for that
// stopband.
const (
	upsampleTaps   = 8      // taps per phase
	upsampleCutoff = 3800.0 // Hz, a little below the 4 kHz Nyquist of G.711
	upsampleBeta   = 6.0    // Kaiser window shape
	upsampleInRate = 8000.0 // Hz
	coefShift      = 14     // coefficients are Q14: 1.0 is 1<<14
)

// Upsampler raises 8 kHz audio (G.711 phone legs) by a fixed integer ratio
// to the output rate: 2 for 16 kHz, 6 for 48 kHz. It is a polyphase
// windowed-sinc FIR in Q14 integer arithmetic with saturation to int16.
//
// It keeps the last input samples across calls, so consecutive 20 ms chunks
// of one stream join without clicks: feeding a signal in chunks gives the
// same samples as feeding it at once. Use one Upsampler per stream; it is
// not safe for concurrent use.
type Upsampler struct {
	ratio int
	coef  []int16 // ratio phases of upsampleTaps Q14 taps: coef[p*taps+k]
	// hist holds the last upsampleTaps inputs twice over, newest first from
	// hist[pos], so hist[pos:pos+upsampleTaps] is always contiguous.
	hist [2 * upsampleTaps]int16
	pos  int
}

// NewUpsampler builds an Upsampler for ratio 1 (pass-through), 2, 3 or 6;
// any other ratio is a setup mistake and returns ErrUpsampleRatio. The
// filter coefficients are computed here, once.
func NewUpsampler(ratio int) (*Upsampler, error) {
	switch ratio {
	case 1:
		return &Upsampler{ratio: 1}, nil
	case 2, 3, 6:
		return &Upsampler{ratio: ratio, coef: upsampleCoefficients(ratio)}, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUpsampleRatio, ratio)
}

// Ratio is the number of output samples per input sample.
func (u *Upsampler) Ratio() int { return u.ratio }

// Delay is the filter's group delay in output samples: output sample n
// corresponds to input time (n - Delay()) / Ratio(). It is
// upsampleTaps*ratio/2 - 1 (7 at 16 kHz, 23 at 48 kHz, under 0.5 ms) and
// 0 for pass-through.
func (u *Upsampler) Delay() int {
	if u.ratio == 1 {
		return 0
	}
	return upsampleTaps*u.ratio/2 - 1
}

// Reset forgets the filter history, for a new stream or after a gap.
func (u *Upsampler) Reset() {
	u.hist = [2 * upsampleTaps]int16{}
	u.pos = 0
}

// Process upsamples src and returns dst[:Ratio()*len(src)]. dst's backing
// array is reused when its capacity suffices, else a new one is allocated;
// dst must not overlap src.
//
// hot path: no alloc
func (u *Upsampler) Process(dst []int16, src []int16) []int16 {
	dst = resizeSamples(dst, u.ratio*len(src))
	if u.ratio == 1 {
		copy(dst, src)
		return dst
	}
	out := dst
	for _, x := range src {
		if u.pos == 0 {
			u.pos = upsampleTaps
		}
		u.pos--
		u.hist[u.pos] = x
		u.hist[u.pos+upsampleTaps] = x
		in := (*[upsampleTaps]int16)(u.hist[u.pos:])
		for p := range u.ratio {
			out[p] = firPhase((*[upsampleTaps]int16)(u.coef[p*upsampleTaps:]), in)
		}
		out = out[u.ratio:]
	}
	return dst
}

// firPhase is one output sample: Q14 taps against the newest-first inputs,
// rounded and saturated. The sum fits int32: |taps| sum to under 2 in Q14,
// so |acc| < 2 * 2^14 * 2^15 = 2^30.
func firPhase(c, in *[upsampleTaps]int16) int16 {
	var acc int32
	for k := range upsampleTaps {
		acc += int32(c[k]) * int32(in[k])
	}
	acc = (acc + 1<<(coefShift-1)) >> coefShift
	return int16(min(max(acc, math.MinInt16), math.MaxInt16))
}

// upsampleCoefficients designs the Kaiser-windowed sinc prototype of
// upsampleTaps*ratio taps at the output rate and splits it into ratio Q14
// phases. The prototype is symmetric about tap upsampleTaps*ratio/2 - 1
// (an integer delay, see Delay), so its last tap is zero. Each phase is
// scaled to a DC gain of exactly 1<<14, so constant input comes out
// unchanged and zero-stuffing leaves no ripple at the output rate.
func upsampleCoefficients(ratio int) []int16 {
	n := upsampleTaps * ratio
	center := float64(n/2 - 1)
	fc := upsampleCutoff / (upsampleInRate * float64(ratio)) // cycles per output sample
	proto := make([]float64, n)
	for i := range n - 1 {
		x := float64(i) - center
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		r := x / center
		proto[i] = sinc * besselI0(upsampleBeta*math.Sqrt(max(0, 1-r*r))) / besselI0(upsampleBeta)
	}

	coef := make([]int16, n)
	for p := range ratio {
		var sum float64
		for k := range upsampleTaps {
			sum += proto[k*ratio+p]
		}
		var qsum, peak int
		for k := range upsampleTaps {
			q := int(math.Round(proto[k*ratio+p] / sum * (1 << coefShift)))
			coef[p*upsampleTaps+k] = int16(q)
			qsum += q
			if math.Abs(proto[k*ratio+p]) > math.Abs(proto[peak*ratio+p]) {
				peak = k
			}
		}
		coef[p*upsampleTaps+peak] += int16(1<<coefShift - qsum) // rounding residue
	}
	return coef
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series (converged well within 30 terms for the betas used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 30; k++ {
		term *= x / 2 / float64(k)
		sum += term * term
	}
	return sum
}
