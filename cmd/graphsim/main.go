// Command graphsim runs the local emulator of Microsoft Graph cloud
// communications and of the Teams media processor. With --bot-url it plays
// calls against a running bot; without it, it serves until interrupted.
// Every flag also reads GRAPHSIM_<FLAG> from the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/cli"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "graphsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	f := cli.NewFlags("graphsim", "GRAPHSIM")
	var cfg graphsim.Config
	var botURL string
	var calls, participants int
	var duration time.Duration
	var establishedFirst, verbose bool
	f.String(&cfg.Addr, "listen", "127.0.0.1:9450", "listen address of the emulated Graph, token endpoint and JWKS")
	f.String(&cfg.TenantID, "tenant-id", "00000000-0000-4000-8000-00000000aaaa", "tenant of the simulated calls")
	f.String(&cfg.ClientID, "client-id", "00000000-0000-4000-8000-00000000b0b0", "the bot's app id (token audience, client-credentials id)")
	f.String(&cfg.ClientSecret, "client-secret", "graphsim-secret", "the bot's client secret")
	f.String(&botURL, "bot-url", "", "the bot's notification URL, e.g. http://127.0.0.1:9440/api/calls (empty: serve only)")
	f.Int(&calls, "calls", 1, "calls to play one after another")
	f.Int(&participants, "participants", 3, "speakers per call (1 to 6)")
	f.Duration(&duration, "duration", 10*time.Second, "how long each call lasts once media flows")
	f.Bool(&establishedFirst, "established-first", false, "send established before establishing, as Graph may")
	f.Bool(&verbose, "verbose", false, "log each notification that is not accepted")
	if err := f.Parse(args); err != nil {
		return err
	}
	if participants < 1 || participants > len(graphsim.Cast) {
		return fmt.Errorf("--participants: want 1 to %d", len(graphsim.Cast))
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	sim, err := graphsim.Start(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Printf("graphsim on %s; run the bot with:\n  --graph-url %s --token-url %s --inbound-jwks-url %s \\\n  --tenant-id %s --client-id %s --client-secret %s --media-public-ip 127.0.0.1\n",
		sim.URL(), sim.GraphURL(), sim.TokenURL(), sim.JWKSURL(), cfg.TenantID, cfg.ClientID, cfg.ClientSecret)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if botURL == "" {
		<-ctx.Done()
		return nil
	}
	for n := range calls {
		sc := graphsim.Scenario{BotURL: botURL, Duration: duration, EstablishedFirst: establishedFirst}
		for i := range participants {
			sc.Participants = append(sc.Participants, graphsim.Participant{DisplayName: graphsim.Cast[i].Name, Voice: graphsim.Cast[i].Voice})
		}
		res, err := sim.PlayCall(ctx, sc)
		if err != nil {
			return fmt.Errorf("call %d: %w", n+1, err)
		}
		fmt.Printf("call %s: answered in %s, %d participants\n", res.CallID, res.AnswerLatency.Round(time.Millisecond), len(res.Participants))
	}
	return nil
}
