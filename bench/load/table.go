package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"
)

func summary(r *rungResult) string {
	return fmt.Sprintf("%d calls: %.0f streams, bot %.2f cores, %s/packet (%.2fx floor %s), lost+late %.3f %%, p99 %s",
		r.calls, r.streams, r.botCores, us(r.cpuPerPacket), ratio(r), us(r.floor), r.badPct(), ms(r.p99))
}

func ratio(r *rungResult) float64 {
	if r.cpuPerPacket < 0 {
		return math.NaN()
	}
	return float64(r.cpuPerPacket) / float64(r.floor)
}

// printTable prints the ladder as Markdown, with the command that made it.
func printTable(w io.Writer, cmdline string, rc rungConfig, results []*rungResult) {
	fmt.Fprintf(w, "```sh\n%s\n```\n\n", cmdline)
	fmt.Fprintf(w, "%d cores, bot and graphsim on the same cores (nice %d and %d); %d participants per call, %s calls started over %s (busy rejections redialed for %s); sink: %s; steady window %s. \"other\" is the rest of the machine's CPU in the window (other processes). \"libopus floor\": CPU time of one packet decoded alone, the mean of samples taken ten times a second in the window. \"refusing calls at / first late frame\": seconds after graphsim started that the bot first refused new calls (overloaded, measured or projected from the calls still connecting) and first delivered a frame more than 60 ms after its packet arrived, polled every 0.25 s during the ramp and every second after.\n\n",
		runtime.NumCPU(), rc.priority, rc.simPriority, rc.participants, rc.duration, rc.stagger, rc.redial, rc.sink, windowOf(results))
	fmt.Fprintln(w, "| calls | streams | bot CPU (cores) | graphsim CPU (cores) | other CPU (cores) | bot CPU / packet | libopus floor | ratio | lost + late (> 60 ms) | p50 delay | p99 delay | RSS / call | goroutines / call | load state (highest) | refusing calls at / first late frame |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %d | %.0f | %.2f | %.2f | %.2f | %s | %s | %.2fx | %s | %s | %s | %s | %.1f | %s | %s / %s |\n",
			r.calls, r.streams, r.botCores, r.simCores, r.otherCores, us(r.cpuPerPacket), us(r.floor), ratio(r),
			badCell(r), ms(r.p50), ms(r.p99), kib(r.rssPerCall), r.goroutinesCall, loadName(r.maxLoad), when(r.refusingAt), when(r.firstLateAt))
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "- %d calls: %.0f packets sent, %.0f received; lost %.0f, late %.0f, delivered > 60 ms after arrival %.0f of %.0f timed frames; UDP datagrams the kernel dropped (receive buffer full) %.0f; libopus floor samples %s, %s, %s (10th, 50th, 90th percentile); busiest media port reader %.0f %% busy",
			r.calls, r.sent, r.received, r.lost, r.late, r.over60, r.frames, r.udpDrops, us(r.floorSpread.p10), us(r.floorSpread.median), us(r.floorSpread.p90), 100*r.readerBusy)
		if len(r.notes) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(r.notes, "; "))
		}
		fmt.Fprintln(w, ".")
	}
}

func badCell(r *rungResult) string {
	s := fmt.Sprintf("%.3f %%", r.badPct())
	if r.broke {
		s += " (broke)"
	}
	return s
}

func windowOf(results []*rungResult) string {
	if len(results) == 0 {
		return "-"
	}
	return results[0].window.Round(100 * time.Millisecond).String()
}

func us(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func loadName(level float64) string {
	return [...]string{"normal", "heavy", "overloaded"}[min(max(int(level), 0), 2)]
}

// when is a time after graphsim started, or "never".
func when(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

func kib(b float64) string { return fmt.Sprintf("%.0f KiB", b/1024) }
