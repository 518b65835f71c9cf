package signaling_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/signaling"
)

// A token endpoint that hangs holds up no request while the token held is
// valid, even past the point where the next is fetched (that one fetch
// hangs, shared); past the token's expiry a request fails with ErrToken
// at its own deadline, not the fetch's; when the endpoint answers again,
// requests go through.
func TestTokenHeldServesWhileTheEndpointHangs(t *testing.T) {
	const life = 2 * time.Second
	sim, err := graphsim.Start(graphsim.Config{TenantID: "tenant-1", ClientID: "app", ClientSecret: "secret", TokenLifetime: life})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	client, err := signaling.NewClient(signaling.ClientConfig{GraphURL: sim.GraphURL(), TokenURL: sim.TokenURL(),
		ClientID: "app", ClientSecret: "secret", DefaultTenant: "tenant-1"})
	if err != nil {
		t.Fatal(err)
	}
	// A keepAlive of a call Graph does not know: 404 says the token was
	// accepted.
	probe := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := client.KeepAlive(ctx, "tenant-1", "no-such-call")
		return time.Since(start), err
	}
	if _, err := probe(context.Background()); !errors.Is(err, signaling.ErrCallGone) {
		t.Fatalf("with the token endpoint up: %v, want Graph's 404", err)
	}
	got := sim.Requests(http.MethodPost, "/oauth2/v2.0/token")[0].At

	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Hanging)
	time.Sleep(time.Until(got.Add(life * 3 / 4))) // the next token is due
	for range 3 {
		if took, err := probe(context.Background()); !errors.Is(err, signaling.ErrCallGone) || took > time.Second {
			t.Errorf("a request with a valid token held, the endpoint hanging: %v after %s, want Graph's 404 at once", err, took)
		}
	}
	// The fetch of the next token starts in the background: on a busy
	// machine it may reach graphsim a moment after the requests.
	tokenRequests := func() int { return len(sim.Requests(http.MethodPost, "/oauth2/v2.0/token")) }
	testwait.For(t, 5*time.Second, "the fetch of the next token", func() bool { return tokenRequests() >= 2 })
	if n := tokenRequests(); n != 2 {
		t.Errorf("%d token requests, want the first and one hanging fetch of the next", n)
	}

	time.Sleep(time.Until(got.Add(life + 100*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if took, err := probe(ctx); !errors.Is(err, signaling.ErrToken) || took > 3*time.Second {
		t.Errorf("a request past the token's expiry, the endpoint hanging: %v after %s, want ErrToken at its 500 ms deadline", err, took)
	}

	sim.SetOutage(graphsim.TokenEndpoint, graphsim.Up)
	if _, err := probe(context.Background()); !errors.Is(err, signaling.ErrCallGone) {
		t.Errorf("with the token endpoint back: %v, want Graph's 404", err)
	}
}
