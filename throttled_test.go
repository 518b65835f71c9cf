package mediabot_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/signaling"
)

// throttleRow is one Graph action the bot makes, driven through a whole
// call while Graph throttles it (429) and then fails it (503), each with
// Retry-After: 1.
type throttleRow struct {
	name           string
	method, suffix string // the action's request, as graphsim.FailNext matches it
	// window is what the action's retries must fit in, and names it.
	window     time.Duration
	windowName string
	// notIdempotent: the 503 may hide a request Graph acted on, so it is
	// not sent again (creating a call).
	notIdempotent bool
	configure     func(*mediabot.Config)
	// drive plays a call that makes the action once, and checks that the
	// call went on normally (its audio recorded).
	drive func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server)
}

// Graph throttles, then fails, one request of each action the bot makes:
// the bot retries after Retry-After, inside the window that matters for
// the action (the answer window above all), sends nothing twice that Graph
// may have acted on (a call is created once, or not at all), and the call
// proceeds: its audio is recorded. Figures: attempts, time from the first
// attempt to the success, the window (go test -run
// TestEveryGraphActionRidesOutThrottling -v).
func TestEveryGraphActionRidesOutThrottling(t *testing.T) {
	voice := []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300, SyllableHz: 3}}}
	freqs := []float64{300}
	for _, row := range []throttleRow{
		{name: "answer", method: http.MethodPost, suffix: "/answer",
			window: 5 * time.Second, windowName: "policy-recording answer window",
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				res := playRecorded(t, sim, srv, graphsim.Scenario{PolicyRecording: true, Duration: 3 * time.Second, Participants: voice}, freqs)
				if res.AnswerLatency > 5*time.Second {
					t.Errorf("Graph received the answer %s after the call, past its 5 s window", res.AnswerLatency)
				}
				t.Logf("Graph received the answer %s after ringing the bot", res.AnswerLatency.Round(time.Millisecond))
			}},
		{name: "updateRecordingStatus", method: http.MethodPost, suffix: "/updateRecordingStatus",
			window: call.HoldSeconds * time.Second, windowName: "audio held until recording is confirmed",
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				playRecorded(t, sim, srv, graphsim.Scenario{PolicyRecording: true, Duration: 3 * time.Second, Participants: voice}, freqs)
			}},
		{name: "keepAlive", method: http.MethodPost, suffix: "/keepAlive",
			// Graph allows 45 minutes between keepAlives; the bot bounds
			// each Graph action of a call at 10 s.
			window: 10 * time.Second, windowName: "the bot's bound on one call action",
			configure: func(c *mediabot.Config) { c.KeepAliveInterval = 2 * time.Second },
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				playRecorded(t, sim, srv, graphsim.Scenario{Duration: 8 * time.Second, Participants: voice}, freqs)
			}},
		{name: "hangup (DELETE)", method: http.MethodDelete, suffix: "",
			window: call.ClosingBound, windowName: "bound on leaving a call",
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 20 * time.Second, Participants: voice})
				id := waitFlowing(t, srv.Bot)
				time.Sleep(time.Second) // some audio first
				if err := srv.Bot.Hangup(context.Background(), id); err != nil {
					t.Fatal(err)
				}
				res := <-done
				waitIdle(t, srv)
				if res == nil || !res.EndedByBot {
					t.Fatalf("the call did not end by the bot's hang-up: %+v", res)
				}
				// The second before the hang-up and the two of its retries
				// are recorded: the media stays up until Graph lets go.
				pcm, rate := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, res.Participants[0]+".wav"))
				if got := time.Duration(len(pcm)) * time.Second / time.Duration(rate); got < 2500*time.Millisecond {
					t.Errorf("%s of audio recorded, want the 3 s before Graph took the hang-up", got)
				}
				if rms := audiotest.RMS(pcm); rms < 500 {
					t.Errorf("the recording's RMS is %.0f: no voice", rms)
				}
			}},
		{name: "invite", method: http.MethodPost, suffix: "/participants/invite",
			window: 10 * time.Second, windowName: "the operator's deadline",
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 6 * time.Second, Participants: voice})
				id := waitFlowing(t, srv.Bot)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				op, err := srv.Bot.Invite(ctx, id, signaling.PhoneTarget("+14255550199"))
				if err != nil || op == nil || op.Status != "completed" {
					t.Errorf("invite: %+v, %v; want the operation completed", op, err)
				}
				res := <-done
				waitIdle(t, srv)
				checkVoices(t, filepath.Join(srv.OutDir, res.CallID), &graphsim.PlacedResult{CallResult: *res}, freqs, 6*time.Second)
			}},
		{name: "createCall", method: http.MethodPost, suffix: "/communications/calls", notIdempotent: true,
			window: 10 * time.Second, windowName: "the operator's deadline",
			drive: func(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server) {
				const user = "33333333-0000-4000-8000-0000000000c1"
				d := sim.AddUser(user, graphsim.Callee{Scenario: graphsim.Scenario{Duration: 3 * time.Second, Participants: voice}})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := srv.Bot.Join(ctx, mediabot.JoinRequest{UserID: user})
				var apiErr *signaling.APIError
				if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || !errors.Is(err, signaling.ErrGraph) {
					t.Fatalf("join while Graph fails: %v, want Graph's 503", err)
				}
				// The operator places the call again, and it goes through.
				info, err := srv.Bot.Join(ctx, mediabot.JoinRequest{UserID: user})
				if err != nil {
					t.Fatal(err)
				}
				res := waitPlaced(t, d)
				waitIdle(t, srv)
				checkVoices(t, filepath.Join(srv.OutDir, info.ID), res, freqs, 3*time.Second)
			}},
	} {
		t.Run(row.name, func(t *testing.T) { row.run(t) })
	}
}

func (row throttleRow) run(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, row.configure, steadyLoad())
	sim.FailNext(row.method, row.suffix, http.StatusTooManyRequests, time.Second, 1)
	sim.FailNext(row.method, row.suffix, http.StatusServiceUnavailable, time.Second, 1)
	row.drive(t, sim, srv)

	all := sim.Requests(row.method, row.suffix)
	if len(all) == 0 {
		t.Fatal("the action was never requested")
	}
	// The attempts of one logical request share its client-request-id.
	var attempts []graphsim.Request
	for _, r := range all {
		if r.ClientRequestID == all[0].ClientRequestID {
			attempts = append(attempts, r)
		}
	}
	want := []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusOK}
	if row.notIdempotent {
		want = want[:2]
	}
	if len(attempts) != len(want) {
		t.Fatalf("%d attempts %v, want %d", len(attempts), statuses(attempts), len(want))
	}
	for i, r := range attempts {
		if i < 2 && r.Status != want[i] || i == 2 && r.Status/100 != 2 {
			t.Errorf("attempts answered %v, want 429, 503 then a success", statuses(attempts))
			break
		}
		if i > 0 && r.At.Sub(attempts[i-1].At) < time.Second {
			t.Errorf("attempt %d came %s after the one before, inside its Retry-After: 1", i+1, r.At.Sub(attempts[i-1].At))
		}
	}
	took := attempts[len(attempts)-1].At.Sub(attempts[0].At)
	if took > row.window {
		t.Errorf("the attempts took %s, past the %s (%s)", took, row.windowName, row.window)
	}
	if row.notIdempotent {
		t.Logf("%s: %d attempts %v, the 503 not retried (Graph may have acted), answered after %s; the operator's retry created the call",
			row.name, len(attempts), statuses(attempts), took.Round(time.Millisecond))
	} else {
		t.Logf("%s: %d attempts %v, success %s after the first (window: %s, %s): met",
			row.name, len(attempts), statuses(attempts), took.Round(time.Millisecond), row.windowName, row.window)
	}
	// Graph acted on the action once: one success in all (keepAlive, sent
	// on every tick, aside), one call created.
	if row.method == http.MethodPost && row.suffix == "/keepAlive" {
		return
	}
	succeeded := 0
	for _, r := range all {
		if r.Status/100 == 2 {
			succeeded++
		}
	}
	if succeeded != 1 {
		t.Errorf("Graph acted on %d %s requests %v, want 1", succeeded, row.name, statuses(all))
	}
}

// statuses lists what graphsim answered to each request.
func statuses(rs []graphsim.Request) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

// playRecorded plays sc to the bot and checks each participant's WAV
// holds the call's audio in full.
func playRecorded(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server, sc graphsim.Scenario, freqs []float64) *graphsim.CallResult {
	t.Helper()
	sc.BotURL = srv.Webhook
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	checkVoices(t, filepath.Join(srv.OutDir, res.CallID), &graphsim.PlacedResult{CallResult: *res}, freqs, sc.Duration)
	return res
}

// waitFlowing returns the id of the first call whose media flows.
func waitFlowing(t *testing.T, bot *mediabot.Bot) string {
	t.Helper()
	var id string
	testwait.For(t, 15*time.Second, "a call's media", func() bool {
		for _, c := range bot.Calls() {
			if !c.MediaStart.IsZero() {
				id = c.ID
			}
		}
		return id != ""
	})
	return id
}
