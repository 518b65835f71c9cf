// Command load is the bot's end-to-end load benchmark: for each rung of a
// ladder of concurrent calls it starts `mediabot serve` and `graphsim
// --concurrent N` as two processes on loopback (real HTTP signalling,
// DTLS-SRTP per packet, audio encoded once and replayed at real-time pace),
// measures the bot from outside (/proc and /metrics) and prints a Markdown
// table:
//
//	go run -tags nolibopusfile ./bench/load --ladder 25,50,100,150 --participants 4 --duration 20s
//
// Bot CPU per packet is set against the libopus decode floor, sampled in
// this process during each rung's steady window, on the same voices.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	f := flag.NewFlagSet("load", flag.ContinueOnError)
	ladder := f.String("ladder", "25,50,100,150", "concurrent calls per rung, comma-separated, ascending")
	participants := f.Int("participants", 4, "speakers per call (1 to 4: the bot offers 4 audio sections)")
	duration := f.Duration("duration", 20*time.Second, "how long each call lasts once its media flows")
	stagger := f.Duration("stagger", 2*time.Second, "spread of the calls' starts")
	redial := f.Duration("redial", 10*time.Second, "graphsim rings a call rejected busy again for this long (the bot refuses calls it projects would overload the machine or a media port's reader)")
	priority := f.Int("nice", -10, "nice value of the bot and graphsim (negative: ahead of other processes on a shared machine; 0 leaves it)")
	simPriority := f.Int("graphsim-nice", 0, "graphsim's nice value when not that of --nice: higher than the bot's puts graphsim's work (call set-ups, redials) behind the bot's, as when Graph runs elsewhere (0: as --nice)")
	sink := f.String("sink", "file", `the bot's consumer: "file" (WAVs on tmpfs, the delay histogram times the file sink) or "none" (--out-dir "": no consumer, no delay histogram)`)
	stopAt := f.Float64("stop-at", 1, "stop climbing once frames lost or late exceed this percentage")
	botBin := f.String("bot-bin", "", "a prebuilt mediabot binary (default: go build ./cmd/mediabot)")
	simBin := f.String("graphsim-bin", "", "a prebuilt graphsim binary (default: go build ./cmd/graphsim)")
	workDir := f.String("work-dir", "", "logs (and recordings while a rung runs); default a new temp folder")
	out := f.String("out", "", "also write the table to this file")
	burst := f.Bool("burst", false, "report each rung as a burst: the streams held over time, how long the bot took to fill up, its own capacity figure and the calls it refused (run the rung at the bot's capacity first: the others are compared with it)")
	botArgs := f.String("bot-args", "", `more flags for mediabot serve, space-separated (e.g. "--media-port 45000 --media-ports 2")`)
	if err := f.Parse(args); err != nil {
		return err
	}
	rungs, err := parseLadder(*ladder)
	if err != nil {
		return err
	}
	if *participants < 1 || *participants > 4 {
		return errors.New("--participants: want 1 to 4")
	}
	if *sink != "file" && *sink != "none" {
		return errors.New(`--sink: want "file" or "none"`)
	}
	if *workDir == "" {
		base := ""
		if *sink == "file" {
			if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
				base = "/dev/shm" // the WAVs cost memory, not disk bandwidth
			}
		}
		if *workDir, err = os.MkdirTemp(base, "mediabot-load-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*workDir, 0o755); err != nil {
		return err
	}
	if *botBin == "" || *simBin == "" {
		fmt.Fprintln(os.Stderr, "load: building mediabot and graphsim")
	}
	if *botBin == "" {
		if *botBin, err = build(*workDir, "mediabot", "./cmd/mediabot"); err != nil {
			return err
		}
	}
	if *simBin == "" {
		if *simBin, err = build(*workDir, "graphsim", "./cmd/graphsim"); err != nil {
			return err
		}
	}
	floor, err := newOpusFloor(*participants, 16000)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopOnInterrupt(ctx)
	rc := rungConfig{botBin: *botBin, simBin: *simBin, participants: *participants, duration: *duration,
		stagger: *stagger, redial: *redial, priority: *priority, simPriority: cmp.Or(*simPriority, *priority), sink: *sink, workDir: *workDir, floor: floor,
		botArgs: strings.Fields(*botArgs)}
	fmt.Fprintf(os.Stderr, "load: logs in %s\n", *workDir)

	var results []*rungResult
	for _, calls := range rungs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "load: %d calls x %d participants ...\n", calls, *participants)
		r, err := runRung(ctx, rc, calls)
		if ctx.Err() != nil {
			break // interrupted: its children were stopped midway, its numbers mean nothing
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: %d calls: %v\n", calls, err)
			if r == nil {
				return err
			}
			r.broke = true
			r.notes = append(r.notes, err.Error())
		}
		results = append(results, r)
		fmt.Fprintln(os.Stderr, "load:", summary(r))
		if r.broke || r.badPct() > *stopAt {
			fmt.Fprintf(os.Stderr, "load: stopping the ladder at %d calls\n", calls)
			break
		}
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if strings.ContainsAny(a, " \t\"'") {
			quoted[i] = strconv.Quote(a) // as a shell reads it back
		}
	}
	cmdline := "go run -tags nolibopusfile ./bench/load " + strings.Join(quoted, " ")
	var w io.Writer = os.Stdout
	if *out != "" {
		file, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = io.MultiWriter(os.Stdout, file)
	}
	if *burst {
		printBurstTable(w, cmdline, rc, results)
	} else {
		printTable(w, cmdline, rc, results)
	}
	if ctx.Err() != nil {
		stopAll() // returns once every child has exited
		return fmt.Errorf("%w (%v): stopped the bot and graphsim", errInterrupted, context.Cause(ctx))
	}
	return nil
}

func parseLadder(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--ladder: %q is not a number of calls", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// build compiles pkg (run from the module root) into dir without libopusfile,
// as the project builds (GOFLAGS adds to that).
func build(dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-tags", "nolibopusfile", "-o", bin, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s (run from the module root): %w", pkg, err)
	}
	return bin, nil
}
