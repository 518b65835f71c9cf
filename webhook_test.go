package mediabot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mediabot-dev/mediabot"
)

// post sends body to url with the given Authorization header value.
func post(t *testing.T, url, auth string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// foreignToken is a well-formed notification token signed by a key the bot
// does not trust.
func foreignToken(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "foreign"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "https://graph.microsoft.com", Audience: jwt.Audience{testApp},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).
		Claims(map[string]any{"tid": testTenant}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func seedExample(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("signaling/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The webhook refuses what Graph would never send, and acts on nothing it
// refused: an unsigned or foreign-signed incoming call is not answered.
func TestWebhookRefusesBadRequests(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	webhook := srv.Webhook
	incoming := seedExample(t, "example2_incoming.json")
	big := append([]byte(`{"value":[],"pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	big = append(big, `"}`...)

	cases := []struct {
		name   string
		signed bool
		auth   string
		body   []byte
		want   int
	}{
		{"unsigned", false, "", incoming, http.StatusUnauthorized},
		{"not a bearer token", false, "Basic Zm9vOmJhcg==", incoming, http.StatusUnauthorized},
		{"signed by a foreign key", false, foreignToken(t), incoming, http.StatusUnauthorized},
		{"not JSON", true, "", []byte("<xml/>"), http.StatusBadRequest},
		{"JSON but not commsNotifications", true, "", []byte(`{"hello":"world"}`), http.StatusBadRequest},
		{"over 1 MiB", true, "", big, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			if tc.signed {
				var err error
				if got, err = sim.Notify(context.Background(), webhook, tc.body); err != nil {
					t.Fatal(err)
				}
			} else {
				got = post(t, webhook, tc.auth, tc.body)
			}
			if got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if calls := srv.Bot.Calls(); len(calls) != 0 {
		t.Errorf("refused requests created calls: %+v", calls)
	}
}

// The seed's content-sharing notifications name a call this bot does not
// hold: they are accepted (202) and ignored, never fatal.
func TestSeedSharingNotificationsForUnknownCallAreIgnored(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	for _, name := range []string{"example2_sharing_created.json", "example2_sharing_deleted.json"} {
		status, err := sim.Notify(context.Background(), srv.Webhook, seedExample(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusAccepted {
			t.Errorf("%s: status %d, want 202", name, status)
		}
	}
	if calls := srv.Bot.Calls(); len(calls) != 0 {
		t.Errorf("calls created: %+v", calls)
	}
}

// Notifications are answered with Connection: close, so that a load
// balancer spreads new calls over instances.
func TestWebhookRepliesCloseTheConnection(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	req, _ := http.NewRequest(http.MethodPost, srv.Webhook, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Error("reply does not close the connection")
	}
}

// When the signing keys cannot be fetched (the key endpoint is down, here
// nothing listens there), that is the bot's fault, not Graph's: 503 with
// Retry-After and a body that says nothing of our network, the detail in
// the log and a counter.
func TestWebhookSaysKeysUnavailableWithoutDetail(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.InboundJWKSURL = "http://127.0.0.1:1/keys" })
	req, err := http.NewRequest(http.MethodPost, srv.Webhook, bytes.NewReader(seedExample(t, "example2_incoming.json")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", foreignToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("%d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, leak := range []string{"127.0.0.1", "dial", "connect", "/keys"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the body %q tells the caller about our network (%q)", body, leak)
		}
	}
	if n := scrapeGauge(srv.OpsURL+"/metrics", `mediabot_notifications_refused_total{reason="keys_unavailable"}`); n != 1 {
		t.Errorf("mediabot_notifications_refused_total{reason=\"keys_unavailable\"} = %v, want 1", n)
	}
}
