// Command soak is the bot's soak run: the bot and graphsim in this one
// process on loopback (real HTTP signalling, DTLS-SRTP media, WAVs written
// by the file sink), calls starting and ending all the time with -calls of
// them live, for -duration. Some calls go as planned; Graph throttles,
// slows or refuses the answers of others, or fails the bot's hang-up;
// some lose their media (the peer goes silent, or closes DTLS before Graph
// ends the call); calls beyond the bot's limit are refused busy, and
// malformed notifications 400. At the end the goroutines, the live heap,
// the RSS and the open files must be back within their margins of the
// baseline (taken after a warm-up), no file under the out-dir open, and no
// call or stream held by the bot. It prints a Markdown table and exits 1
// when a figure is over its margin:
//
//	go run -tags nolibopusfile ./bench/soak -duration 30m -calls 50
//
// TestSoak runs it for 10 s with 5 calls, so that it keeps working.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// errOverMargin is run's error when a figure ended over its margin.
var errOverMargin = errors.New("a figure ended over its margin")

// overMarginError names the figures that ended over their margins.
type overMarginError struct{ names []string }

func (e *overMarginError) Error() string {
	return errOverMargin.Error() + ": " + strings.Join(e.names, ", ")
}

func (e *overMarginError) Unwrap() error { return errOverMargin }

// run soaks the bot as args say, prints the table to stdout and progress
// to progress.
func run(args []string, stdout, progress io.Writer) error {
	f := flag.NewFlagSet("soak", flag.ContinueOnError)
	duration := f.Duration("duration", 30*time.Minute, "how long calls keep starting")
	calls := f.Int("calls", 50, "calls kept live (the bot's limit: one more is refused busy)")
	callLength := f.Duration("call-length", 30*time.Second, "calls last half, once or one and a half times this (at least 4s: a media drop needs 5.5 s to be noticed)")
	workDir := f.String("work-dir", "", "the log (soak.log) and the recordings; default a new temp folder, deleted when the run passes")
	out := f.String("out", "", "also write the table to this file")
	if err := f.Parse(args); err != nil {
		return err
	}
	if *calls < 1 {
		return errors.New("-calls: want 1 or more")
	}
	if *callLength < 4*time.Second {
		return errors.New("-call-length: want 4s or more")
	}
	tempDir := *workDir == ""
	if tempDir {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm" // the WAVs cost memory, not disk bandwidth
		}
		var err error
		if *workDir, err = os.MkdirTemp(base, "mediabot-soak-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(*workDir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(progress, "soak: log and recordings in %s\n", *workDir)
	r, err := soak(ctx, config{duration: *duration, calls: *calls, callLength: *callLength, workDir: *workDir}, progress)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		file, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = io.MultiWriter(stdout, file)
	}
	cs := checks(r.base, r.peak, r.end, r.calls.remembered())
	printTable(w, "go run -tags nolibopusfile ./bench/soak "+strings.Join(args, " "), r, cs)
	var over []string
	for _, c := range cs {
		if c.over {
			over = append(over, c.name)
		}
	}
	if len(over) > 0 {
		fmt.Fprintf(progress, "soak: log kept in %s\n", *workDir)
		return &overMarginError{names: over}
	}
	if tempDir {
		return os.RemoveAll(*workDir)
	}
	return nil
}
