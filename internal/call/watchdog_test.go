package call

import (
	"testing"
	"time"
)

// The idle watchdog counts silence from the later of the last packet and
// media connecting: a call whose answer took longer than the bound, its
// first packet a moment after media connected, is not silent.
func TestSilenceCountsFromMediaConnecting(t *testing.T) {
	const idle = 2 * time.Second
	for _, c := range []struct {
		name                   string
		sinceCount, sinceMedia time.Duration
		silent                 bool
	}{
		{"answer took 3 s, media connected 100 ms ago, no packet yet", 3 * time.Second, 100 * time.Millisecond, false},
		{"no packet since media connected 2 s ago", 2 * time.Second, 2 * time.Second, true},
		{"packets stopped 2 s ago, media up for a minute", 2 * time.Second, time.Minute, true},
		{"a packet 1 s ago", time.Second, time.Minute, false},
	} {
		if got := silentFor(c.sinceCount, c.sinceMedia, idle); got != c.silent {
			t.Errorf("%s: silent %v, want %v", c.name, got, c.silent)
		}
	}
}
