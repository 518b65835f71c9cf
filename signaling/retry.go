package signaling

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how the Graph client retries a request that Graph
// throttled (429), failed on its side (5xx) or that never reached it
// (transport error). Other refusals are final. The zero value is the
// default policy: 4 attempts, waits drawn with full jitter from
// [0, min(3 s, 200 ms·2^n)), a Retry-After of up to 30 s honoured.
//
// No wait ever crosses the context's deadline: the bot passes the answer
// window as a deadline, and a request that cannot be retried inside it
// fails at once with the last error, so the caller still has time to act
// (reject, log) before Graph gives up on the call.
type RetryPolicy struct {
	// Attempts is the most requests sent for one call, first included;
	// 0 is 4, 1 turns retries off.
	Attempts int
	// Base is the first backoff cap, doubled each retry; 0 is 200 ms.
	Base time.Duration
	// Max caps each backoff wait; 0 is 3 s. It does not cap Retry-After.
	Max time.Duration
	// MaxRetryAfter is the longest Retry-After waited out; a longer one ends
	// the retries with the throttled reply. 0 is 30 s.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 3 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 30 * time.Second
	}
	return p
}

// backoff is the full-jitter wait before retry number retry (1 for the
// first retry): uniform in [0, min(Max, Base·2^(retry-1))).
func (p RetryPolicy) backoff(retry int) time.Duration {
	ceiling := p.Max
	if retry < 30 {
		if d := p.Base << (retry - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return rand.N(ceiling)
}

// retryable reports whether a reply with this status may succeed if sent
// again: throttling and Graph-side failures.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when the header is absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > 1<<31 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// errNoTimeLeft is returned by sleepWithin when the wait would cross the
// context's deadline.
var errNoTimeLeft = errors.New("signaling: no time left to retry before the deadline")

// sleepWithin waits d unless that would cross ctx's deadline (it then
// returns errNoTimeLeft at once) or ctx ends first (ctx.Err()).
func sleepWithin(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(d).After(deadline) {
		return errNoTimeLeft
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewGUID is a random RFC 4122 version 4 GUID, the form of Graph's ids and
// of the client-request-id it expects.
func NewGUID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
