package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/internal/tap"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

func runTap(args []string) error {
	f := cli.NewFlags("mediabot tap", "MEDIABOT")
	var o tap.Options
	f.String(&o.URL, "nats-url", "", "NATS server(s) the bot publishes to (required)")
	f.String(&o.Stream, "nats-stream", nats.DefaultStream, "JetStream stream of audio and events")
	f.String(&o.WriteDir, "write", "", "rebuild DIR/{callId}/{participantId}.wav and events.jsonl from the start of the stream instead of printing live levels")
	f.String(&o.CallID, "call", "", "follow only this call id")
	f.Duration(&o.Idle, "idle", 5*time.Second, "with --write: stop after this long without a message")
	if err := f.Parse(args); err != nil {
		return err
	}
	if o.URL == "" {
		return errors.New("tap: --nats-url is required")
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return tap.Run(ctx, o)
}
