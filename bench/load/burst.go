package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// heldMoments are the seconds after graphsim started at which a burst's
// notes give the streams held.
var heldMoments = []time.Duration{1, 2, 3, 5, 10, 15, 20}

// printBurstTable prints the rungs as bursts, in Markdown with the command
// that made them: what each offered, what the bot held and how soon, what
// it refused. "÷ first" compares each rung's peak with the first rung's,
// which should be the one offered at the bot's capacity.
func printBurstTable(w io.Writer, cmdline string, rc rungConfig, results []*rungResult) {
	fmt.Fprintf(w, "```sh\n%s\n```\n\n", cmdline)
	fmt.Fprintf(w, "%d cores, bot and graphsim on the same cores (nice %d and %d); %d participants per call, %s calls offered over %s (busy rejections redialed for %s); sink: %s. \"capacity\" is the bot's own figure (mediabot_capacity_streams) at the end of the window; \"held\" the most streams active at once; \"filled at\" when the streams first reached 95 %% of that, in seconds after graphsim started; \"refused\" the calls still rejected busy after every redial.\n\n",
		runtime.NumCPU(), rc.priority, rc.simPriority, rc.participants, rc.duration, rc.stagger, rc.redial, rc.sink)
	fmt.Fprintln(w, "| offered calls | offered streams | capacity (streams) | held (streams) | ÷ first | filled at | refused calls | busy answers | lost + late (> 60 ms) | p99 delay | bot CPU / packet | ratio |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var first float64
	for i, r := range results {
		peak, filled := r.peakHeld()
		if i == 0 {
			first = peak
		}
		fmt.Fprintf(w, "| %d | %d | %.0f | %.0f | %.2f | %s | %d | %d | %s | %s | %s | %.2fx |\n",
			r.calls, r.expected, r.capacity, peak, peak/first, when(filled), r.refusedCalls, r.redials, badCell(r), ms(r.p99), us(r.cpuPerPacket), ratio(r))
	}
	fmt.Fprintln(w)
	for _, r := range results {
		var at []string
		for _, s := range heldMoments {
			at = append(at, fmt.Sprintf("%d s %.0f", s, r.heldAt(s*time.Second)))
		}
		fmt.Fprintf(w, "- %d calls: streams held at %s", r.calls, strings.Join(at, ", "))
		if len(r.notes) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(r.notes, "; "))
		}
		fmt.Fprintln(w, ".")
	}
}
