package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// printTable prints the run as Markdown, with the command that made it.
func printTable(w io.Writer, cmdline string, r *result, cs []check) {
	cfg, n := r.cfg, r.calls
	fmt.Fprintf(w, "```sh\n%s\n```\n\n", cmdline)
	ran := fmt.Sprintf("%s of churn (the last calls ended %s later)", r.churned.Round(time.Second), r.tail.Round(time.Second))
	if r.interrupted {
		ran += " (interrupted)"
	}
	fmt.Fprintf(w, "%s; %d cores, load average %s before, %s after; the soak's process used %.2f cores, other processes %.2f. "+
		"%d calls live (%.1f held on average), %s, calls of %s, %s and %s; baseline after one call of each of the %d plans. "+
		"Back within the margins %.1f s after the bot let go of the last call; it still remembers %d ended calls (Bot.Call: ten minutes).\n\n",
		r.began.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), r.loadBefore, r.loadAfter, r.cpuCores, r.otherCores,
		cfg.calls, r.meanHeld, ran, cfg.callLength/2, cfg.callLength, cfg.callLength*3/2, len(book), r.settled.Seconds(), n.remembered())

	fmt.Fprintln(w, "| quantity | baseline | peak | end | margin | verdict |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, c := range cs {
		verdict := "ok"
		if c.over {
			verdict = "**over**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", c.name, c.unit(c.base), c.unit(c.peak), c.unit(c.end), c.margin.String(c.unit), verdict)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| calls | count |")
	fmt.Fprintln(w, "|---|---:|")
	rows := []struct {
		what string
		n    int
	}{
		{"offered (incoming-call notifications)", n.offered},
		{"answered", n.answered},
		{fmt.Sprintf("ended as planned (%d of them after Graph throttled (429) or slowed (2 s) the answer)", n.recovered), n.completed},
		{"failed: Graph refused the answer (403)", n.failed},
		{fmt.Sprintf("media dropped: peer silent, or DTLS closed before Graph ended the call (the bot hung up %d)", n.hungUp), n.dropped},
		{"refused busy: the bot was full", n.refusedBusy},
		{"refused: malformed notification (400)", n.refusedBad},
		{"unexpected outcome", n.unexpected},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %d |\n", row.what, row.n)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Frames the file sink wrote from packets: %.0f of the %d packets graphsim sent (%.2f %%); packets received %.0f, lost %.0f; frames dropped because a consumer fell behind %.0f.\n",
		r.frames, n.packetsSent, 100*r.frames/float64(max(n.packetsSent, 1)), r.received, r.lost, r.overflows)
	for _, e := range n.examples {
		fmt.Fprintf(w, "- unexpected: %s\n", e)
	}
	if len(r.end.outFiles) > 0 {
		fmt.Fprintf(w, "- still open under the out-dir: %v\n", r.end.outFiles)
	}
}
