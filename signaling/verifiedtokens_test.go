package signaling

import (
	"context"
	"crypto/rsa"
	"errors"
	"testing"
	"time"
)

// A token verified once is remembered, but its claims still meet the
// clock: past its expiry (and the skew allowed) it is refused.
func TestRememberedTokenExpires(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	tok := bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now())))
	for range 3 {
		got, err := a.Authenticate(context.Background(), tok)
		if err != nil || got.TenantID != testTenant || got.Subject != "graph" {
			t.Fatalf("a valid token, again: %+v, %v", got, err)
		}
	}
	clock.Advance(time.Hour + DefaultClockSkew + time.Second)
	if _, err := a.Authenticate(context.Background(), tok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a remembered token past its expiry: %v, want ErrUnauthorized", err)
	}
}

// BenchmarkAuthenticate: a token Graph sends again (remembered) against one
// verified each time, in the same run.
func BenchmarkAuthenticate(b *testing.B) {
	ks, clock := newKeyServer(b), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(b, 0)})
	a, err := NewAuthenticator(AuthConfig{JWKSURL: ks.URL + "/keys", Issuers: GraphIssuers(), Audience: testAppID, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	tok := bearer(signRS256(b, rsaKey(b, 0), "k1", validClaims(clock.Now())))
	ctx := context.Background()
	for _, remembered := range []bool{true, false} {
		name := map[bool]string{true: "remembered", false: "verified"}[remembered]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if !remembered {
					a.verified.tokens = nil // forgotten: every call verifies
				}
				if _, err := a.Authenticate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
