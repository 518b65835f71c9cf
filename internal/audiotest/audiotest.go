// Package audiotest has the signal checks the project's tests share: how
// strong a frequency is in a PCM signal, and which of several it is.
package audiotest

import "math"

// Power is the Goertzel power of freq in pcm sampled at rate, normalised
// by the signal length so that different lengths compare.
func Power(pcm []int16, rate int, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / float64(len(pcm)) / float64(len(pcm))
}

// Dominant returns the index of the candidate frequency strongest in pcm.
func Dominant(pcm []int16, rate int, candidates []float64) int {
	best, bestP := -1, -1.0
	for i, f := range candidates {
		if p := Power(pcm, rate, f); p > bestP {
			best, bestP = i, p
		}
	}
	return best
}

// RMS is the root mean square of pcm.
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}
