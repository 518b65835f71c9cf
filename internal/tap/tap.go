// Package tap is `mediabot tap`, the consumer side of the NATS sink (package
// sink/nats; its subjects and headers are those of the README's "Consuming
// audio: in-process, files, NATS" section): it follows the JetStream stream the bot publishes to and either
// prints each speaker's level live, or rebuilds the WAVs and events.jsonl of
// every call the way the file sink writes them. Live, each speaker's line
// also gives their display name (from the call's participant events, those
// before the tap started included) and says how long they have talked
// (their speech.ended stretches). It is both an operator's
// tool and the proof that the published stream carries everything.
package tap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// Options configure Run.
type Options struct {
	// URL of the NATS server(s); required.
	URL string
	// Stream is the JetStream stream (default natssink.DefaultStream).
	Stream string
	// WriteDir, when set, rebuilds {WriteDir}/{callId}/{participantId}.wav
	// and events.jsonl from the start of the stream instead of printing
	// levels from now on.
	WriteDir string
	// CallID limits the tap to one call.
	CallID string
	// Idle ends a WriteDir run after this long without a message (default
	// 5 s). Live runs go on until ctx ends.
	Idle time.Duration
	// Interval is how often live levels are printed (default 1 s).
	Interval time.Duration
	// Out receives the live level lines and the write summary (default
	// os.Stdout).
	Out io.Writer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// pollWait bounds one wait for a message, so that ctx, the idle timeout and
// the level printer are looked at often enough.
const pollWait = 100 * time.Millisecond

// Run taps the stream until ctx ends, or with WriteDir until the stream has
// been idle for Idle. A WriteDir run closes every file it wrote before it
// returns and prints a one-line summary.
func Run(ctx context.Context, o Options) error {
	if o.URL == "" {
		return errors.New("tap: --nats-url is required")
	}
	if o.Stream == "" {
		o.Stream = natssink.DefaultStream
	}
	if o.Idle <= 0 {
		o.Idle = 5 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	nc, err := nats.Connect(o.URL, nats.Name("mediabot tap"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("tap: connect %s: %w", o.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters(o), DeliverPolicy: jetstream.DeliverNewPolicy}
	if o.WriteDir != "" {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, o.Stream, cfg)
	if err != nil {
		return fmt.Errorf("tap: follow stream %s: %w", o.Stream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tap: follow stream %s: %w", o.Stream, err)
	}
	defer msgs.Stop()
	if o.WriteDir != "" {
		return write(ctx, msgs, o)
	}
	return levels(ctx, js, msgs, o)
}

// filters are the subjects the tap follows: the calls' audio and events.
func filters(o Options) []string {
	call := "*"
	if o.CallID != "" {
		call = natssink.SubjectToken(o.CallID)
	}
	return []string{natssink.AudioSubjectPrefix + call + ".*", natssink.EventSubjectPrefix + call}
}

// next waits up to pollWait for a message; it returns nil, nil when none came.
func next(msgs jetstream.MessagesContext) (jetstream.Msg, error) {
	m, err := msgs.Next(jetstream.NextMaxWait(pollWait))
	if errors.Is(err, nats.ErrTimeout) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tap: %w", err)
	}
	return m, nil
}
