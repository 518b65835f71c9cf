package signaling

import (
	"context"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// tokenCache keeps one tenant's access token, and gets the next one ahead
// of time: from half the token's lifetime on, each request that uses it
// starts a fetch in the background (one at a time) until one succeeds. A
// token endpoint outage shorter than half a token's lifetime (30 minutes of
// Entra ID's usual hour) thus costs nothing. A token is used until a
// sixtieth of its lifetime is left (a minute of an hour), so that none
// expires on its way to Graph; past that, a request waits for a fetch, as
// long as its context allows, and fails with ErrToken if it fails.
type tokenCache struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)
	// timeout bounds one fetch: it is shared by every request waiting.
	timeout time.Duration
	// failed, when set, is told of each fetch that failed, and whether the
	// token held still serves.
	failed func(stillValid bool, err error)

	mu       sync.Mutex
	tok      *oauth2.Token
	got      time.Time   // when tok was received
	inflight *tokenFetch // nil when no fetch is in flight
}

// tokenFetch is one fetch of a token, in flight or done.
type tokenFetch struct {
	done chan struct{}
	tok  *oauth2.Token // set before done closes, nil when err is set
	err  error
}

// token returns an access token to send: the one held while it is usable
// (fetching the next in the background from half its lifetime on), else a
// fresh one, waited for as long as ctx allows.
func (c *tokenCache) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	now := time.Now()
	usable := c.usable(now)
	var f *tokenFetch
	if !usable || c.due(now) {
		f = c.start()
	}
	tok := c.tok
	c.mu.Unlock()
	if usable {
		return tok.AccessToken, nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if f.err != nil {
		return "", f.err
	}
	return f.tok.AccessToken, nil
}

// lifetime is how long the token held was valid for when it came; 0 when
// it has no expiry. Called with mu held.
func (c *tokenCache) lifetime() time.Duration {
	if c.tok.Expiry.IsZero() {
		return 0
	}
	return c.tok.Expiry.Sub(c.got)
}

// usable reports whether the token held may be sent at now. Called with mu
// held.
func (c *tokenCache) usable(now time.Time) bool {
	if c.tok == nil {
		return false
	}
	life := c.lifetime()
	return life == 0 || now.Before(c.tok.Expiry.Add(-life/60))
}

// due reports whether the next token should be fetched: half the held
// one's lifetime has passed. Called with mu held.
func (c *tokenCache) due(now time.Time) bool {
	life := c.lifetime()
	return life != 0 && !now.Before(c.got.Add(life/2))
}

// start returns the fetch in flight, starting one if there is none.
// Called with mu held.
func (c *tokenCache) start() *tokenFetch {
	if c.inflight != nil {
		return c.inflight
	}
	f := &tokenFetch{done: make(chan struct{})}
	c.inflight = f
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		tok, err := c.fetch(ctx)
		c.mu.Lock()
		c.inflight = nil
		if err == nil {
			c.tok, c.got = tok, time.Now()
		}
		stillValid := c.usable(time.Now())
		c.mu.Unlock()
		if err != nil && c.failed != nil {
			c.failed(stillValid, err)
		}
		f.tok, f.err = tok, err
		close(f.done)
	}()
	return f
}
