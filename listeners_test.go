package mediabot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

// The public listener, which Graph and media processors reach, serves
// Graph's routes and the health probes only: the status page (with the
// participants' names), the metrics and the operator API are on the
// operations listener alone.
func TestPublicListenerShowsNothingOfTheCalls(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second,
		Participants: []graphsim.Participant{{DisplayName: "Alice Secretname", Voice: graphsim.Voice{FundamentalHz: 300}}}})
	testwait.For(t, 10*time.Second, "Alice on the status JSON", func() bool {
		_, body := get(t, srv.OpsURL+"/status.json")
		return strings.Contains(body, "Alice Secretname")
	})
	for _, path := range []string{"/status", "/status.json", "/metrics", "/v1/calls", "/v1/calls/x", "/debug/pprof/", "/"} {
		if code, body := get(t, srv.URL+path); code != http.StatusNotFound || strings.Contains(body, "Secretname") {
			t.Errorf("public GET %s: %d %q, want 404 and nothing of the call", path, code, body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		for _, base := range []string{srv.URL, srv.OpsURL} {
			if code, _ := get(t, base+path); code != http.StatusOK {
				t.Errorf("GET %s%s: %d, want 200", base, path, code)
			}
		}
	}
	for _, path := range []string{"/status", "/metrics", "/v1/calls", "/debug/pprof/"} {
		if code, _ := get(t, srv.OpsURL+path); code != http.StatusOK {
			t.Errorf("operations GET %s: %d, want 200", path, code)
		}
	}
	// The operator API's DELETE is not on the public listener either.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, srv.URL+"/v1/calls/any", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public DELETE /v1/calls/any: %d, want 404", resp.StatusCode)
	}
	<-done
}
