package mediabot_test

import (
	"testing"

	"github.com/mediabot-dev/mediabot/internal/audiotest"
)

// checkToneEverySecond checks that every whole second of pcm is loud and
// has freqs[want] the strongest of freqs: the source's tone throughout,
// nothing lost or concealed into mush.
func checkToneEverySecond(t *testing.T, who string, pcm []int16, rate int, freqs []float64, want int) {
	t.Helper()
	for s := 0; s+rate <= len(pcm); s += rate {
		second := pcm[s : s+rate]
		if d, rms := audiotest.Dominant(second, rate, freqs), audiotest.RMS(second); d != want || rms < 500 {
			t.Errorf("%s, second %d: dominant %.0f Hz, RMS %.0f; want %.0f Hz, loud", who, s/rate, freqs[d], rms, freqs[want])
		}
	}
}
