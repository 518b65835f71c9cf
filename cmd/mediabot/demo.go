package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/internal/demo"
)

func runDemo(args []string) error {
	f := cli.NewFlags("mediabot demo", "MEDIABOT")
	o := demo.Options{}
	var verbose bool
	f.String(&o.OutDir, "out-dir", "./recordings", "where the call's audio, events.jsonl and speakers.rttm go")
	f.Duration(&o.Duration, "duration", 10*time.Second, "how long the participants speak")
	f.Int(&o.Participants, "participants", 3, fmt.Sprintf("speakers in the call (1 to %d)", demo.MaxParticipants))
	f.Int(&o.SampleRate, "sample-rate", 16000, "PCM rate of the recordings: 16000 or 48000")
	format := "wav"
	f.String(&format, "record-format", format, "the recordings' audio: wav (decoded PCM) or opus (Ogg Opus of the packets as received)")
	f.Bool(&o.Join, "join", false, "the bot joins a scheduled meeting by its join link (operator API, as mediabot join) instead of answering an incoming call")
	f.Bool(&verbose, "verbose", false, "log what the bot and the emulator do")
	if err := f.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if format != "wav" && format != "opus" {
		return fmt.Errorf("--record-format %q: want wav or opus", format)
	}
	o.RecordOpus = format == "opus"
	if o.Participants < 1 || o.Participants > demo.MaxParticipants {
		return fmt.Errorf("--participants: want 1 to %d, got %d", demo.MaxParticipants, o.Participants)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	how := "graphsim rings the bot on loopback"
	if o.Join {
		how = "the bot joins a meeting graphsim hosts on loopback"
	}
	fmt.Printf("mediabot demo: %s; %d participants speak for %s\n\n", how, o.Participants, o.Duration)
	sum, err := demo.Run(ctx, o)
	if err != nil {
		return err
	}
	sum.Print(os.Stdout)
	return nil
}
