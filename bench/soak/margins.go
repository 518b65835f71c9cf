package main

import (
	"fmt"
	"time"
)

// margin is how far above its baseline a quantity may end: a share of the
// baseline or an amount, whichever is more, and perRemembered for each call
// the bot still remembers.
type margin struct {
	share, amount float64
	perRemembered float64
}

func (m margin) limit(base float64, remembered int) float64 {
	return base + max(base*m.share, m.amount) + m.perRemembered*float64(remembered)
}

func (m margin) String(unit func(float64) string) string {
	var s string
	switch {
	case m.share == 0 && m.amount == 0:
		s = "none"
	case m.share == 0:
		s = "+" + unit(m.amount)
	default:
		s = fmt.Sprintf("+%.0f %% or +%s", 100*m.share, unit(m.amount))
	}
	if m.perRemembered > 0 {
		s += fmt.Sprintf(", +%.0f KiB a call remembered", m.perRemembered/1024)
	}
	return s
}

// remembered is how long the bot remembers an ended call (Bot.Call: "one
// that ended in the last ten minutes").
const remembered = 10 * time.Minute

// The margins. A leak grows with the calls: one goroutine, file or
// 10 KiB per call would be thousands of goroutines or files and tens of
// MiB over a 30-minute soak, so the margins need not be tight to catch
// one; they are as wide as what the process legitimately keeps.
var (
	// A connection or a pion transport still closing.
	goroutineMargin = margin{amount: 10}
	fdMargin        = margin{amount: 5}
	// The bot keeps each call that ended in the last ten minutes, its
	// record: about 4 KiB (its work queue is let go when it ends).
	// Pools and the allocator's partly used spans vary by a few MiB.
	heapMargin = margin{share: 0.25, amount: 4 << 20, perRemembered: 32 << 10}
	// The runtime does not hand every freed page back at once, and keeps
	// what goroutine stacks used.
	rssMargin = margin{share: 0.25, amount: 32 << 20, perRemembered: 32 << 10}
	// None may remain: no recording left open, no call or stream held.
	noMargin = margin{}
)

// check is one quantity's verdict.
type check struct {
	name            string
	base, peak, end float64
	margin          margin
	unit            func(float64) string
	over            bool
}

// checks judges the end against the baseline; the bot still remembers
// rememberedCalls calls.
func checks(base, peak, end usage, rememberedCalls int) []check {
	cs := []check{
		{name: "goroutines", base: float64(base.goroutines), peak: float64(peak.goroutines), end: float64(end.goroutines), margin: goroutineMargin, unit: count},
		{name: "heap (live, after GC)", base: base.heap, peak: peak.heap, end: end.heap, margin: heapMargin, unit: mib},
		{name: "RSS (after GC and scavenge)", base: base.rss, peak: peak.rss, end: end.rss, margin: rssMargin, unit: mib},
		{name: "open file descriptors", base: float64(base.fds), peak: float64(peak.fds), end: float64(end.fds), margin: fdMargin, unit: count},
		{name: "files open under the out-dir", base: float64(len(base.outFiles)), peak: float64(len(peak.outFiles)), end: float64(len(end.outFiles)), margin: noMargin, unit: count},
		{name: "calls the bot holds (Bot.Calls)", base: float64(base.held), peak: float64(peak.held), end: float64(end.held), margin: noMargin, unit: count},
		{name: "streams decoded (mediabot_streams_active)", base: base.streams, peak: peak.streams, end: end.streams, margin: noMargin, unit: count},
	}
	for i := range cs {
		cs[i].over = cs[i].end > cs[i].margin.limit(cs[i].base, rememberedCalls)
	}
	return cs
}

// withinMargins reports whether u's goroutines, files and calls are
// within their margins of base: what settle waits for (the heap and RSS
// need a collection to read).
func withinMargins(base, u usage) bool {
	return float64(u.goroutines) <= goroutineMargin.limit(float64(base.goroutines), 0) &&
		float64(u.fds) <= fdMargin.limit(float64(base.fds), 0) &&
		len(u.outFiles) <= len(base.outFiles) && u.held <= base.held
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
