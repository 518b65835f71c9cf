package mediabot_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// The token endpoint goes down twice during a call, on a scaled clock:
// tokens live 8 s here, an hour (Entra ID's usual) in production, so 1 s
// here is 7.5 minutes there. The phases end on what the bot does, not on
// the clock, so that a stalled machine shifts them without breaking them.
//
// The first outage starts as a token is got and lasts until the bot has
// failed three times to get the next one, which it tries from half the
// token's life on: more than 30 minutes at scale, so any 2-minute outage, wherever it
// falls, lies inside what it shows. The token held keeps serving: the
// call is kept alive, a call arriving meanwhile is answered, no request
// fails; only the fetches ahead of expiry fail, counted as such. The
// endpoint back, the next token is got before the first expires.
//
// The second outage outlasts the token (more than an hour at scale): past
// its expiry, requests fail clearly (a join says it cannot get a token)
// and are counted; the call goes on (media needs no token), and when the
// endpoint is back the bot gets a token at its next request, by itself.
// Figures: go test -run TestTokenEndpointOutage -v.
func TestTokenEndpointOutage(t *testing.T) {
	const life = 8 * time.Second
	sim, err := graphsim.Start(graphsim.Config{TenantID: mediabottest.TenantID, ClientID: mediabottest.ClientID,
		ClientSecret: mediabottest.ClientSecret, TokenLifetime: life})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := startBot(t, sim, func(c *mediabot.Config) { c.KeepAliveInterval = 250 * time.Millisecond }, steadyLoad())
	metrics := srv.OpsURL + "/metrics"
	failures := func(held string) float64 {
		return scrapeGauge(metrics, `mediabot_token_fetch_failures_total{held="`+held+`"}`)
	}
	granted := func() []graphsim.Request {
		var out []graphsim.Request
		for _, r := range sim.Requests(http.MethodPost, "/oauth2/v2.0/token") {
			if r.Status == http.StatusOK {
				out = append(out, r)
			}
		}
		return out
	}
	voice := []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300, SyllableHz: 3}}}
	freqs := []float64{300}
	const long = 20 * time.Second
	longCall := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: long, Participants: voice})
	waitFlowing(t, srv.Bot)
	// The outage must begin before the token's refresh point: on a slow
	// machine the call may have come up past it, so wait for the next
	// token then (a keepAlive fetches it).
	var first time.Time
	testwait.For(t, 2*life, "a token granted less than a quarter of its life ago", func() bool {
		g := granted()
		first = g[len(g)-1].At
		return time.Since(first) < life/4
	})
	grantsBefore := len(granted())

	// The first outage: the token held serves throughout.
	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Unreachable)
	during := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second, Participants: voice})
	testwait.For(t, 2*life, "three failed fetches of the next token", func() bool { return failures("valid") >= 3 })
	outageA := time.Since(first)
	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Up)
	testwait.For(t, 2*life, "the next token", func() bool { return len(granted()) > grantsBefore })
	second := granted()[grantsBefore].At
	refreshFailures := failures("valid")
	if second.Sub(first) > life {
		t.Errorf("the next token came %s after the first, past its %s life", second.Sub(first), life)
	}
	res := <-during
	if res == nil || res.Answer.MediaConfig.ODataType == "" || res.EndedByBot {
		t.Fatalf("the call that came during the first outage: %+v, want it answered and kept", res)
	}
	if n := failures("none"); n != 0 {
		t.Errorf("%v token failures failed requests during an outage the token held outlived", n)
	}

	// The second outage outlasts the token got after the first.
	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Unreachable)
	testwait.For(t, 3*life, "requests failing for want of a token", func() bool { return failures("none") > 0 })
	if expired := time.Since(second); expired < life*59/60 {
		t.Errorf("requests failed for want of a token %s into a %s token's life", expired, life)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = srv.Bot.Join(ctx, mediabot.JoinRequest{UserID: "44444444-0000-4000-8000-0000000000d1"})
	if !errors.Is(err, mediabot.ErrNoToken) || !strings.Contains(err.Error(), "token endpoint") {
		t.Errorf("a join past the token's expiry: %v, want ErrNoToken naming the token endpoint", err)
	}
	expiredFailures := failures("none")
	outageB := time.Since(second)
	up := time.Now()
	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Up)
	var recovered time.Duration
	testwait.For(t, 10*time.Second, "a keepAlive after the endpoint came back", func() bool {
		for _, r := range sim.Requests(http.MethodPost, "/keepAlive") {
			if r.At.After(up) && r.Status == http.StatusOK {
				recovered = r.At.Sub(up)
				return true
			}
		}
		return false
	})

	res = <-longCall
	waitIdle(t, srv)
	if res == nil || res.EndedByBot {
		t.Fatalf("the call through both outages: %+v, want it to last until Graph ended it", res)
	}
	checkVoices(t, filepath.Join(srv.OutDir, res.CallID), &graphsim.PlacedResult{CallResult: *res}, freqs, long)
	// A token is given up a sixtieth of its life before it expires (133 ms
	// here, a minute in production): only a request stalled longer than
	// that on its way reaches Graph with an expired token.
	late := 0
	for _, r := range sim.Requests(http.MethodPost, "") {
		if r.Status == http.StatusUnauthorized {
			late++
		}
	}
	t.Logf("outage across the refresh point (%s of a %s token's life): 2 of 2 calls kept (one answered during it), %v fetches failed ahead of expiry, 0 requests failed; next token %s into the first's life",
		outageA.Round(time.Millisecond), life, refreshFailures, second.Sub(first).Round(time.Millisecond))
	t.Logf("outage past expiry (%s into the token's life): %v fetch failures with no valid token (requests failed; a join said: %v), the call kept; recovered %s after the endpoint came back (the next keepAlive); %d requests reached Graph with an expired token",
		outageB.Round(time.Millisecond), expiredFailures, err, recovered.Round(time.Millisecond), late)
}
