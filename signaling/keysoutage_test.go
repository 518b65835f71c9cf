package signaling_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/signaling"
)

// keysWebhook is a webhook that checks Graph's tokens against graphsim's
// JWKS, as the bot's does, and counts its refusals by reason.
type keysWebhook struct {
	url string
	mu  sync.Mutex
	// refused counts refusals by reason.
	refused map[string]int
}

// The keys' refresh interval in this test; the bot's is 30 s
// (signaling.DefaultMinRefreshInterval). The fetch timeout is the default
// 10 s, as in the bot.
const testRefreshInterval = time.Second

func newKeysWebhook(t *testing.T, sim *graphsim.Sim) *keysWebhook {
	t.Helper()
	_, clientID, _ := sim.App()
	auth, err := signaling.NewAuthenticator(signaling.AuthConfig{JWKSURL: sim.JWKSURL(), Issuers: []string{sim.Issuer()},
		Audience: clientID, MinRefreshInterval: testRefreshInterval})
	if err != nil {
		t.Fatal(err)
	}
	h := &keysWebhook{refused: map[string]int{}}
	srv := httptest.NewServer(signaling.NewWebhook(signaling.WebhookConfig{Auth: auth,
		Handle: func(signaling.Claims, *signaling.CommsNotifications) {},
		Refused: func(reason string) {
			h.mu.Lock()
			h.refused[reason]++
			h.mu.Unlock()
		}}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *keysWebhook) refusals(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused[reason]
}

const emptyBatch = `{"@odata.type":"#microsoft.graph.commsNotifications","value":[]}`

// fromGraph posts a notification signed by graphsim, and returns the
// webhook's status and how long it took to answer.
func (h *keysWebhook) fromGraph(t *testing.T, sim *graphsim.Sim) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	status, err := sim.Notify(context.Background(), h.url, []byte(emptyBatch))
	if err != nil {
		t.Fatal(err)
	}
	return status, time.Since(start)
}

// forger signs tokens well formed and addressed to the bot, under a key
// Graph never published.
type forger struct {
	key *rsa.PrivateKey
	sim *graphsim.Sim
}

func newForger(t *testing.T, sim *graphsim.Sim) *forger {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{key: key, sim: sim}
}

// post posts a notification to h under a forged token with a kid of its
// own, and returns the webhook's status and how long it took to answer.
func (f *forger) post(t *testing.T, h *keysWebhook) (int, time.Duration) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "forged-"+signaling.NewGUID()))
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	tenant, clientID, _ := f.sim.App()
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: f.sim.Issuer(), Audience: jwt.Audience{clientID},
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).
		Claims(map[string]any{"tid": tenant}).Serialize()
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(emptyBatch))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// The endpoint serving Graph's signing keys goes down, first refusing
// connections, then hanging: notifications signed with the keys held keep
// being accepted without waiting, even while a fetch hangs; a token under
// an unknown kid (forged, or Graph's own after it rotated its key during
// the outage) is refused promptly, not after the fetch's 10 s timeout; and
// once the endpoint is back, the rotated-in key is fetched and accepted.
// Figures: go test -run TestKeysEndpointOutage -v ./signaling.
func TestKeysEndpointOutage(t *testing.T) {
	sim, _ := startSim(t)
	h := newKeysWebhook(t, sim)
	forged := newForger(t, sim)
	if status, _ := h.fromGraph(t, sim); status != http.StatusAccepted {
		t.Fatalf("before the outage: %d", status)
	}

	// Connections refused: the fetch for the unknown kid fails at once.
	sim.SetOutage(graphsim.KeysEndpoint, graphsim.Unreachable)
	status, unreachable := forged.post(t, h)
	if status != http.StatusUnauthorized {
		t.Errorf("forged kid, keys unreachable: %d, want 401", status)
	}

	// Hanging: a burst of forged kids starts one fetch, which hangs; each
	// is refused without waiting it out. Graph's notifications, signed
	// with the key held, are accepted meanwhile as fast as ever.
	time.Sleep(testRefreshInterval) // the next fetch may start
	sim.SetOutage(graphsim.KeysEndpoint, graphsim.Hanging)
	fetchesBefore := len(sim.Requests(http.MethodGet, "/keys"))
	const burst = 8
	forgedLatency := make(chan time.Duration, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			status, took := forged.post(t, h)
			if status != http.StatusUnauthorized {
				t.Errorf("forged kid, keys hanging: %d, want 401", status)
			}
			forgedLatency <- took
		})
	}
	time.Sleep(100 * time.Millisecond) // the fetch hangs now
	const known = 10
	var slowestKnown time.Duration
	accepted := 0
	for range known {
		status, took := h.fromGraph(t, sim)
		if status == http.StatusAccepted {
			accepted++
		}
		slowestKnown = max(slowestKnown, took)
	}
	wg.Wait()
	close(forgedLatency)
	var slowestForged time.Duration
	for d := range forgedLatency {
		slowestForged = max(slowestForged, d)
	}
	if accepted != known {
		t.Errorf("%d of %d notifications signed with a cached key accepted while the keys endpoint hangs", accepted, known)
	}
	// A hanging fetch is given up on after 10 s: well under that, with
	// room for a busy machine.
	if slowestKnown > 3*time.Second {
		t.Errorf("a notification signed with a cached key took %s while a key fetch hung", slowestKnown)
	}
	if slowestForged > 5*time.Second {
		t.Errorf("a forged kid was refused after %s while the keys endpoint hangs: it waited on the fetch", slowestForged)
	}
	if n := len(sim.Requests(http.MethodGet, "/keys")) - fetchesBefore; n != 1 {
		t.Errorf("%d forged kids started %d key fetches, want 1", burst, n)
	}

	// Graph rotates its key while the endpoint still hangs: its
	// notifications are refused promptly too.
	if _, err := sim.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	status, rotatedDown := h.fromGraph(t, sim)
	if status != http.StatusUnauthorized || rotatedDown > 5*time.Second {
		t.Errorf("Graph's rotated-in kid while the keys hang: %d after %s, want a prompt 401", status, rotatedDown)
	}

	// The endpoint drops the hanging fetch, then is back: the new key is
	// fetched, as soon as the refresh interval since the last fetch began
	// allows, and accepted.
	sim.SetOutage(graphsim.KeysEndpoint, graphsim.Unreachable)
	sim.SetOutage(graphsim.KeysEndpoint, graphsim.Up)
	back := time.Now()
	var recovered time.Duration
	for {
		status, _ := h.fromGraph(t, sim)
		if status == http.StatusAccepted {
			recovered = time.Since(back)
			break
		}
		if time.Since(back) > 15*time.Second {
			t.Fatalf("the rotated-in key still refused (%d) 15 s after the keys endpoint came back", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := h.refusals("keys_unavailable"); n != 0 {
		t.Errorf("%d notifications answered keys unavailable: a key set was held throughout", n)
	}
	t.Logf("cached keys during the outage: %d/%d notifications accepted, the slowest in %s while a key fetch hung",
		accepted, known, slowestKnown.Round(time.Millisecond))
	t.Logf("unknown kid refused: in %s with the keys endpoint unreachable, in %s at most (%d at once, 1 fetch) with it hanging; Graph's rotated-in kid during the outage in %s",
		unreachable.Round(time.Millisecond), slowestForged.Round(time.Millisecond), burst, rotatedDown.Round(time.Millisecond))
	t.Logf("rotation after recovery: the new kid accepted %s after the keys endpoint came back (refresh interval %s here, 30 s in the bot)",
		recovered.Round(time.Millisecond), testRefreshInterval)
}
