package signaling

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// unknownKidWait bounds how long a token naming a kid the key set held
// lacks waits for the set to be fetched again. A key endpoint that works
// answers well within it; one that hangs would otherwise hold each such
// token (most of them made up) for the whole fetch timeout. The fetch goes
// on, for the tokens that come after.
const unknownKidWait = time.Second

// keyFetch is one fetch of the key set, in flight or done. It runs on a
// goroutine of its own, never under the cache's lock: tokens signed with
// keys already held are checked while the key endpoint takes its time.
type keyFetch struct {
	done chan struct{}
	err  error // set before done closes
}

// startFetch returns the fetch in flight, or starts one unless the last
// began less than MinRefreshInterval ago (then nil). Called with mu held.
func (c *keyCache) startFetch(now time.Time) *keyFetch {
	if c.fetch != nil {
		return c.fetch
	}
	if c.attempted && now.Sub(c.attemptAt) < c.cfg.MinRefreshInterval {
		return nil
	}
	c.attempted, c.attemptAt = true, now
	f := &keyFetch{done: make(chan struct{})}
	c.fetch = f
	go func() {
		// The fetch serves every caller, not only the one that started
		// it: it has a context of its own, bounded as a key request is.
		ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(c.cfg.HTTPClient.Timeout, DefaultHTTPTimeout))
		defer cancel()
		keys, err := c.fetchKeys(ctx)
		c.mu.Lock()
		if err == nil {
			c.keys, c.fetchedAt = keys, now
		}
		c.fetch = nil
		c.mu.Unlock()
		f.err = err
		close(f.done)
	}()
	return f
}

// wait waits for f (nil: nothing to wait for) to end, ctx allowing, and
// at most unknownKidWait when bounded. It returns the fetch's error, or
// why it stopped waiting.
func (f *keyFetch) wait(ctx context.Context, bounded bool) error {
	if f == nil {
		return nil
	}
	var giveUp <-chan time.Time
	if bounded {
		t := time.NewTimer(unknownKidWait)
		defer t.Stop()
		giveUp = t.C
	}
	select {
	case <-f.done:
		return f.err
	case <-giveUp:
		return fmt.Errorf("the key set is still being fetched after %s", unknownKidWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}
