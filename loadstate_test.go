package mediabot_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
)

var overloaded = mediabot.LoadState{Level: mediabot.LoadOverloaded, Reason: "cpu: machine 4% idle (below 10%)"}

// An overloaded instance says so on /readyz, with the reason, marks the
// change with a load.state event, and rejects new calls busy.
func TestOverloadedInstanceRejectsBusyAndSaysWhy(t *testing.T) {
	sim := startSim(t)
	var state atomic.Pointer[mediabot.LoadState]
	state.Store(&mediabot.LoadState{Reason: "fine"})
	log := &eventLog{}
	srv := startBot(t, sim, nil,
		mediabot.WithEventConsumer(log), mediabot.WithLoadFunc(func() mediabot.LoadState { return *state.Load() }))
	base := srv.URL // /readyz is on the public listener, for load balancers

	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d while normal", code)
	}
	state.Store(&overloaded)
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "overloaded: cpu: machine 4% idle") {
		t.Errorf("/readyz %d %q, want 503 with the reason", code, body)
	}
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != "busy" {
		t.Errorf("rejected %q, want busy", res.Rejected)
	}
	var changes []string
	for _, e := range log.of("", event.LoadState) {
		changes = append(changes, e.State)
	}
	if strings.Join(changes, ",") != "overloaded" {
		t.Errorf("load.state events %v, want one change, to overloaded", changes)
	}
}

// With --handoff-url, a full or overloaded instance answers Graph's
// incoming-call notification 307 with that Location, before acting on it.
func TestOverloadedInstanceHandsOffWith307(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.HandoffURL = "https://other.example.com/api/calls" },
		mediabot.WithLoadFunc(func() mediabot.LoadState { return overloaded }))
	status, loc, err := sim.NotifyLocation(context.Background(), srv.Webhook, seedExample(t, "example2_incoming.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusTemporaryRedirect || loc != "https://other.example.com/api/calls" {
		t.Errorf("status %d, Location %q; want 307 to the handoff URL", status, loc)
	}
	if calls := srv.Bot.Calls(); len(calls) != 0 {
		t.Errorf("a handed-off call was taken: %+v", calls)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
