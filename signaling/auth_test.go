package signaling

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testAppID  = "11111111-2222-3333-4444-555555555555"
	testIssuer = "https://api.botframework.com"
	testTenant = "932899f8-2ea1-4604-8413-27bd2892079f"
)

var (
	testKeysOnce sync.Once
	testKeys     [3]*rsa.PrivateKey
)

// rsaKey returns one of three RSA-2048 keys generated once per test binary.
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	testKeysOnce.Do(func() {
		for j := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[j] = k
		}
	})
	return testKeys[i]
}

// keyServer is a JWKS (and OpenID configuration) endpoint whose keys the
// test can swap and whose requests it counts.
type keyServer struct {
	*httptest.Server
	mu       sync.Mutex
	set      jose.JSONWebKeySet
	status   int
	jwksHits atomic.Int64
	oidcHits atomic.Int64
}

func newKeyServer(t testing.TB) *keyServer {
	ks := &keyServer{status: http.StatusOK}
	mux := http.NewServeMux()
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		ks.jwksHits.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.status != http.StatusOK {
			w.WriteHeader(ks.status)
			return
		}
		_ = json.NewEncoder(w).Encode(ks.set)
	})
	mux.HandleFunc("/openid", func(w http.ResponseWriter, r *http.Request) {
		ks.oidcHits.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": testIssuer, "jwks_uri": ks.URL + "/keys"})
	})
	ks.Server = httptest.NewServer(mux)
	t.Cleanup(ks.Close)
	return ks
}

// serve makes the server publish exactly the given keys.
func (ks *keyServer) serve(keys map[string]*rsa.PrivateKey) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.set = jose.JSONWebKeySet{}
	for kid, k := range keys {
		ks.set.Keys = append(ks.set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
}

func (ks *keyServer) fail(status int) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.status = status
}

// testClock is a settable clock safe for concurrent reads.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// settle waits for the key fetch in flight, if any: a stale key set is
// fetched again in the background.
func settle(a *Authenticator) {
	a.keys.mu.Lock()
	f := a.keys.fetch
	a.keys.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

func newTestAuthenticator(t *testing.T, ks *keyServer, clock *testClock) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator(AuthConfig{
		JWKSURL:  ks.URL + "/keys",
		Issuers:  GraphIssuers(),
		Audience: testAppID,
		Now:      clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tokenClaims are what a test token carries; zero fields are left out.
type tokenClaims struct {
	jwt.Claims
	TenantID string `json:"tid,omitempty"`
}

// validClaims are the claims Graph sends, valid at now for an hour.
func validClaims(now time.Time) tokenClaims {
	return tokenClaims{
		Claims: jwt.Claims{
			Issuer:    testIssuer,
			Audience:  jwt.Audience{testAppID},
			Subject:   "graph",
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry:    jwt.NewNumericDate(now.Add(time.Hour)),
		},
		TenantID: testTenant,
	}
}

func signRS256(t testing.TB, key *rsa.PrivateKey, kid string, c tokenClaims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) string { return "Bearer " + tok }

func TestAuthenticateAcceptsGraphToken(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	c := validClaims(clock.Now())
	got, err := a.Authenticate(context.Background(), bearer(signRS256(t, rsaKey(t, 0), "k1", c)))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Issuer: testIssuer, Audience: testAppID, TenantID: testTenant, Subject: "graph", Expiry: clock.Now().Add(time.Hour)}
	if !got.Expiry.Equal(want.Expiry) {
		t.Errorf("Expiry = %v, want %v", got.Expiry, want.Expiry)
	}
	got.Expiry = want.Expiry
	if got != want {
		t.Errorf("Authenticate = %+v, want %+v", got, want)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	now := clock.Now()
	k1, other := rsaKey(t, 0), rsaKey(t, 1)
	with := func(edit func(*tokenClaims)) tokenClaims {
		c := validClaims(now)
		edit(&c)
		return c
	}
	header := func(tok string) string { return base64.RawURLEncoding.EncodeToString([]byte(tok)) }
	body := header(`{"iss":"` + testIssuer + `","aud":"` + testAppID + `","tid":"t","exp":9999999999}`)

	hs := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
			(&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(validClaims(now)).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name          string
		authorization string
		reason        string
	}{
		{"missing header", "", "missing Authorization header"},
		{"not bearer", "Basic dXNlcjpwYXNz", "not a Bearer token"},
		{"bearer without token", "Bearer   ", "not a Bearer token"},
		{"garbage token", "Bearer not.a.jwt", "malformed token"},
		{"wrong signature, same kid", bearer(signRS256(t, other, "k1", validClaims(now))), "bad signature"},
		{"unknown kid", bearer(signRS256(t, k1, "nope", validClaims(now))), `unknown signing key "nope"`},
		{"no kid", bearer(signRS256(t, k1, "", validClaims(now))), "no kid"},
		{"HS256 refused", bearer(hs()), "not RS256"},
		{"alg none refused", bearer(header(`{"alg":"none","kid":"k1"}`) + "." + body + "."), "not RS256"},
		{"wrong issuer", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.Issuer = "https://evil.example" }))), `issuer "https://evil.example" not accepted`},
		{"wrong audience", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.Audience = jwt.Audience{"someone-else"} }))), "audience"},
		{"expired beyond skew", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-3 * time.Minute)) }))), "token expired"},
		{"no exp", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.Expiry = nil }))), "no exp"},
		{"nbf in future beyond skew", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(3 * time.Minute)) }))), "not yet valid"},
		{"missing tid", bearer(signRS256(t, k1, "k1", with(func(c *tokenClaims) { c.TenantID = "" }))), "no tid"},
	}
	a := newTestAuthenticator(t, ks, clock)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(context.Background(), tt.authorization)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Authenticate error = %v, want ErrUnauthorized", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "signaling: unauthorized: ") || !strings.Contains(msg, tt.reason) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line containing %q", msg, tt.reason)
			}
		})
	}
}

func TestAuthenticateToleratesClockSkew(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	now := clock.Now()
	c := validClaims(now)
	c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
	c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
	if _, err := a.Authenticate(context.Background(), bearer(signRS256(t, rsaKey(t, 0), "k1", c))); err != nil {
		t.Errorf("token a minute either side of its window rejected: %v", err)
	}
}

func TestAuthenticateAcceptsAnyConfiguredIssuerAndAudienceList(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	c := validClaims(clock.Now())
	c.Issuer = "https://graph.microsoft.com"
	c.Audience = jwt.Audience{"other", testAppID}
	got, err := a.Authenticate(context.Background(), "bearer "+signRS256(t, rsaKey(t, 0), "k1", c))
	if err != nil || got.Issuer != "https://graph.microsoft.com" || got.Audience != testAppID {
		t.Errorf("Authenticate = %+v, %v", got, err)
	}
}

func TestKeyRotationFetchesNewKid(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	old, next := rsaKey(t, 0), rsaKey(t, 2)
	ks.serve(map[string]*rsa.PrivateKey{"old": old})
	a := newTestAuthenticator(t, ks, clock)
	ctx := context.Background()
	remembered := bearer(signRS256(t, old, "old", validClaims(clock.Now())))
	if _, err := a.Authenticate(ctx, remembered); err != nil {
		t.Fatal(err)
	}

	ks.serve(map[string]*rsa.PrivateKey{"next": next})
	clock.Advance(DefaultMinRefreshInterval)
	if _, err := a.Authenticate(ctx, bearer(signRS256(t, next, "next", validClaims(clock.Now())))); err != nil {
		t.Fatalf("token with rotated-in kid: %v", err)
	}
	if _, err := a.Authenticate(ctx, bearer(signRS256(t, old, "old", validClaims(clock.Now())))); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("token with rotated-out kid: err = %v, want ErrUnauthorized", err)
	}
	// A token verified before the rotation is verified again, not taken
	// from memory.
	if _, err := a.Authenticate(ctx, remembered); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("the remembered token of a rotated-out kid: %v, want ErrUnauthorized", err)
	}
	if got := ks.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	ctx := context.Background()
	flood := func() {
		for i := 0; i < 50; i++ {
			tok := signRS256(t, rsaKey(t, 1), "bogus-"+string(rune('a'+i%26)), validClaims(clock.Now()))
			if _, err := a.Authenticate(ctx, bearer(tok)); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("bogus kid accepted: %v", err)
			}
		}
	}
	flood()
	if got := ks.jwksHits.Load(); got != 1 {
		t.Errorf("after a flood: %d JWKS fetches, want 1", got)
	}
	clock.Advance(DefaultMinRefreshInterval - time.Second)
	flood()
	if got := ks.jwksHits.Load(); got != 1 {
		t.Errorf("flood inside MinRefreshInterval: %d JWKS fetches, want 1", got)
	}
	clock.Advance(time.Second)
	flood()
	if got := ks.jwksHits.Load(); got != 2 {
		t.Errorf("flood after MinRefreshInterval: %d JWKS fetches, want 2", got)
	}
}

func TestKeysAreCachedForTwoHours(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	ctx := context.Background()
	auth := func() error {
		_, err := a.Authenticate(ctx, bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now()))))
		return err
	}
	// At 0, 1h, 2h and 3h less a few seconds: only the last is past the TTL.
	for i := 0; i < 4; i++ {
		if err := auth(); err != nil {
			t.Fatal(err)
		}
		settle(a)
		clock.Advance(time.Hour - time.Second)
	}
	if got := ks.jwksHits.Load(); got != 2 {
		t.Errorf("four tokens over ~3 h: %d JWKS fetches, want 2", got)
	}
}

func TestKeyEndpointOutageKeepsKnownKeys(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now())))); err != nil {
		t.Fatal(err)
	}
	ks.fail(http.StatusServiceUnavailable)
	clock.Advance(3 * time.Hour)
	if _, err := a.Authenticate(ctx, bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now())))); err != nil {
		t.Errorf("known key rejected during key endpoint outage: %v", err)
	}
	settle(a)
	if got := ks.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (one failed refresh)", got)
	}
}

func TestKeysUnavailableIsNotTheCallersFault(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.fail(http.StatusInternalServerError)
	a := newTestAuthenticator(t, ks, clock)
	_, err := a.Authenticate(context.Background(), bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now()))))
	if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v, want signing keys unavailable (our fault, not the caller's)", err)
	}
}

func TestOpenIDConfigurationLeadsToKeys(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a, err := NewAuthenticator(AuthConfig{OpenIDURL: ks.URL + "/openid", Issuers: []string{testIssuer}, Audience: testAppID, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now())))); err != nil {
		t.Fatal(err)
	}
	if ks.oidcHits.Load() != 1 || ks.jwksHits.Load() != 1 {
		t.Errorf("fetches: openid %d, jwks %d; want 1, 1", ks.oidcHits.Load(), ks.jwksHits.Load())
	}
}

func TestConcurrentAuthenticateFetchesOnce(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	tok := bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now())))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Authenticate(context.Background(), tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := ks.jwksHits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

func TestNewAuthenticatorRejectsBadConfig(t *testing.T) {
	ok := AuthConfig{JWKSURL: "https://keys.example/keys", Issuers: GraphIssuers(), Audience: testAppID}
	tests := []struct {
		name string
		edit func(*AuthConfig)
	}{
		{"no audience", func(c *AuthConfig) { c.Audience = "" }},
		{"no issuers", func(c *AuthConfig) { c.Issuers = nil }},
		{"empty issuer", func(c *AuthConfig) { c.Issuers = []string{""} }},
		{"no key URL", func(c *AuthConfig) { c.JWKSURL = "" }},
		{"relative JWKS URL", func(c *AuthConfig) { c.JWKSURL = "/keys" }},
		{"bad OpenID URL", func(c *AuthConfig) { c.OpenIDURL = "ftp://x/y" }},
		{"negative skew", func(c *AuthConfig) { c.ClockSkew = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			if _, err := NewAuthenticator(cfg); !errors.Is(err, ErrAuthConfig) {
				t.Errorf("NewAuthenticator error = %v, want ErrAuthConfig", err)
			}
		})
	}
	if _, err := NewAuthenticator(ok); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	withOpenID := ok
	withOpenID.JWKSURL, withOpenID.OpenIDURL = "", GraphOpenIDURL
	if _, err := NewAuthenticator(withOpenID); err != nil {
		t.Errorf("OpenID-only config rejected: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	ks, clock := newKeyServer(t), newTestClock()
	ks.serve(map[string]*rsa.PrivateKey{"k1": rsaKey(t, 0)})
	a := newTestAuthenticator(t, ks, clock)
	var called atomic.Int64
	var seen Claims
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called.Add(1)
		seen, _ = ClaimsFromContext(r.Context())
		w.WriteHeader(http.StatusAccepted)
	}))

	t.Run("rejected with 401 JSON, next not called", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/calls", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Basic x")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("response = %d %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		body := rec.Body.String()
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, "unauthorized") || strings.Count(body, "\n") != 1 {
			t.Errorf("body = %q", body)
		}
		if called.Load() != 0 {
			t.Error("next was called")
		}
	})
	t.Run("accepted with claims in context", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/calls", strings.NewReader("{}"))
		req.Header.Set("Authorization", bearer(signRS256(t, rsaKey(t, 0), "k1", validClaims(clock.Now()))))
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted || called.Load() != 1 || seen.TenantID != testTenant {
			t.Errorf("code %d, called %d, claims %+v", rec.Code, called.Load(), seen)
		}
	})
}

func TestClaimsFromContextWithoutMiddleware(t *testing.T) {
	if _, ok := ClaimsFromContext(context.Background()); ok {
		t.Error("claims found in a bare context")
	}
	ctx := ContextWithClaims(context.Background(), Claims{TenantID: "t"})
	if c, ok := ClaimsFromContext(ctx); !ok || c.TenantID != "t" {
		t.Errorf("ClaimsFromContext = %+v, %v", c, ok)
	}
}
