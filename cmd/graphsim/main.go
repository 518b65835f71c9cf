// Command graphsim runs the local emulator of Microsoft Graph cloud
// communications and of the Teams media processor. With --bot-url it plays
// calls against a running bot; without it, it serves until interrupted.
// With --concurrent N it plays N calls at once, their starts spread over
// --stagger, as a load test of the bot (bench/load drives it). With
// --meeting it hosts one meeting for the bot to join (POST
// /communications/calls): it prints the meeting's links as "join-url: …"
// and "short-url: …" lines, holds the bot in the lobby for --lobby, plays
// --participants speakers for --duration once the bot is in, and logs each
// join's outcome until interrupted. Every flag also reads GRAPHSIM_<FLAG>
// from the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
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
	var calls, participants, concurrent int
	var stagger, redial time.Duration
	var duration, lobby time.Duration
	var establishedFirst, verbose, meeting bool
	f.String(&cfg.Addr, "listen", "127.0.0.1:9450", "listen address of the emulated Graph, token endpoint and JWKS")
	f.String(&cfg.TenantID, "tenant-id", "00000000-0000-4000-8000-00000000aaaa", "tenant of the simulated calls")
	f.String(&cfg.ClientID, "client-id", "00000000-0000-4000-8000-00000000b0b0", "the bot's app id (token audience, client-credentials id)")
	f.String(&cfg.ClientSecret, "client-secret", "graphsim-secret", "the bot's client secret")
	f.String(&botURL, "bot-url", "", "the bot's notification URL, e.g. http://127.0.0.1:9440/api/calls (empty: serve only)")
	f.Int(&calls, "calls", 1, "calls to play one after another")
	f.Int(&concurrent, "concurrent", 0, "play this many calls at once instead of --calls in turn (a load test)")
	f.Duration(&stagger, "stagger", 2*time.Second, "with --concurrent: spread the calls' starts over this long")
	f.Duration(&redial, "redial", 0, "with --concurrent: ring a call the bot rejected busy again, every 500 ms for this long, as callers redial")
	f.Int(&participants, "participants", 3, "speakers per call (1 to 6)")
	f.Duration(&duration, "duration", 10*time.Second, "how long each call lasts once media flows")
	f.Bool(&establishedFirst, "established-first", false, "send established before establishing, as Graph may")
	f.Bool(&verbose, "verbose", false, "log each notification that is not accepted")
	f.Bool(&meeting, "meeting", false, "host one meeting for the bot to join, print its join-url and short-url, and serve until interrupted")
	f.Duration(&lobby, "lobby", 0, "with --meeting: hold the bot in the lobby this long before admitting it (negative: never)")
	if err := f.Parse(args); err != nil {
		return err
	}
	if participants < 1 || participants > len(graphsim.Cast) {
		return fmt.Errorf("--participants: want 1 to %d", len(graphsim.Cast))
	}
	if meeting && botURL != "" {
		return errors.New("--meeting hosts a meeting the bot joins; --bot-url plays calls to the bot: use one")
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
	scenario := func() graphsim.Scenario {
		sc := graphsim.Scenario{BotURL: botURL, Duration: duration, EstablishedFirst: establishedFirst}
		for i := range participants {
			sc.Participants = append(sc.Participants, graphsim.Participant{DisplayName: graphsim.Cast[i].Name, Voice: graphsim.Cast[i].Voice})
		}
		return sc
	}
	if meeting {
		return hostMeeting(ctx, sim, graphsim.Callee{Scenario: scenario(), Lobby: lobby})
	}
	if botURL == "" {
		<-ctx.Done()
		return nil
	}
	if concurrent > 0 {
		return playConcurrently(ctx, sim, scenario(), concurrent, stagger, redial)
	}
	for n := range calls {
		res, err := sim.PlayCall(ctx, scenario())
		if err != nil {
			return fmt.Errorf("call %d: %w", n+1, err)
		}
		fmt.Printf("call %s: answered in %s, %d participants\n", res.CallID, res.AnswerLatency.Round(time.Millisecond), len(res.Participants))
	}
	return nil
}

// playConcurrently plays n calls of sc at once, the k-th starting at
// k/n of stagger so that the bot's answer path is not hit by all of them in
// the same instant; a call rejected busy is rung again every 500 ms for
// redial. It prints a line per finished call and a totals line,
// "totals calls=... ok=... rejected=... failed=... packets_sent=...", that
// bench/load reads.
func playConcurrently(ctx context.Context, sim *graphsim.Sim, sc graphsim.Scenario, n int, stagger, redial time.Duration) error {
	var (
		wg             sync.WaitGroup
		out            sync.Mutex
		ok, failed     atomic.Int64
		rejected       atomic.Int64
		redials        atomic.Int64
		sent, answerNs atomic.Int64
	)
	for k := range n {
		wg.Go(func() {
			select {
			case <-time.After(stagger * time.Duration(k) / time.Duration(n)):
			case <-ctx.Done():
				failed.Add(1)
				return
			}
			res, err := sim.PlayCall(ctx, sc)
			for first := time.Now(); err == nil && res.Rejected == "busy" && time.Since(first) < redial; {
				select {
				case <-time.After(500 * time.Millisecond):
				case <-ctx.Done():
				}
				redials.Add(1)
				res, err = sim.PlayCall(ctx, sc)
			}
			packets := 0
			if res != nil {
				for _, p := range res.PacketsSent {
					packets += p
				}
			}
			sent.Add(int64(packets))
			out.Lock()
			defer out.Unlock()
			if err != nil {
				failed.Add(1)
				fmt.Printf("call %d: failed: %v\n", k+1, err)
				return
			}
			if res.Rejected != "" {
				rejected.Add(1)
				fmt.Printf("call %d %s: rejected (%s)\n", k+1, res.CallID, res.Rejected)
				return
			}
			ok.Add(1)
			answerNs.Add(int64(res.AnswerLatency))
			fmt.Printf("call %d %s: answered in %s, %d participants, %d packets sent\n",
				k+1, res.CallID, res.AnswerLatency.Round(time.Millisecond), len(res.Participants), packets)
		})
	}
	wg.Wait()
	meanAnswer := time.Duration(0)
	if ok.Load() > 0 {
		meanAnswer = time.Duration(answerNs.Load() / ok.Load())
	}
	fmt.Printf("totals calls=%d ok=%d rejected=%d failed=%d packets_sent=%d mean_answer=%s redials=%d\n",
		n, ok.Load(), rejected.Load(), failed.Load(), sent.Load(), meanAnswer.Round(time.Millisecond), redials.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d calls failed", failed.Load(), n)
	}
	return nil
}

// hostMeeting registers one meeting, prints its links and logs each join's
// outcome until ctx ends.
func hostMeeting(ctx context.Context, sim *graphsim.Sim, callee graphsim.Callee) error {
	m := sim.AddMeeting(callee)
	fmt.Printf("join-url: %s\nshort-url: %s\n", m.JoinURL, m.ShortURL)
	for {
		res, err := m.Wait(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fmt.Println(placedOutcome(res, err))
	}
}

// placedOutcome is one line about a call the bot placed.
func placedOutcome(res *graphsim.PlacedResult, err error) string {
	if res.Refused {
		return fmt.Sprintf("join refused: %d %s: %s", res.Refusal.Status, res.Refusal.Code, res.Refusal.Message)
	}
	line := fmt.Sprintf("call %s:", res.CallID)
	if !res.LobbyEnteredAt.IsZero() {
		if res.Admitted.IsZero() {
			line += " never admitted from the lobby,"
		} else {
			line += fmt.Sprintf(" admitted after %s in the lobby,", res.Admitted.Sub(res.LobbyEnteredAt).Round(time.Millisecond))
		}
	}
	packets := 0
	for _, n := range res.PacketsSent {
		packets += n
	}
	if !res.MediaConnected.IsZero() {
		line += fmt.Sprintf(" media connected %s after creation, %d packets sent to %d participants,",
			res.MediaConnected.Sub(res.Created).Round(time.Millisecond), packets, len(res.Participants))
	}
	switch {
	case res.EndedByBot:
		line += " ended by the bot"
	case res.Ended != nil:
		line += fmt.Sprintf(" ended %d/%d %s", res.Ended.Code, res.Ended.Subcode, res.Ended.Message)
	}
	if err != nil {
		line += fmt.Sprintf(" (failed: %v)", err)
	}
	return line
}
