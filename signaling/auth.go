package signaling

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GraphOpenIDURL is the OpenID configuration whose jwks_uri holds the keys
// Graph signs callback tokens with in the global cloud. National clouds
// differ and are undocumented, which is why AuthConfig takes the URL.
const GraphOpenIDURL = "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration"

// GraphIssuers returns the iss values Microsoft's own samples accept on
// callback tokens. It returns a fresh slice each call.
func GraphIssuers() []string {
	return []string{"https://graph.microsoft.com", "https://api.botframework.com"}
}

// Defaults applied by NewAuthenticator to zero AuthConfig fields.
const (
	DefaultClockSkew          = 2 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
	// keyCacheTTL matches the 2 h the Microsoft sample caches its OpenID
	// configuration for.
	keyCacheTTL = 2 * time.Hour
	// maxKidBytes bounds the kid of a token worth looking up.
	maxKidBytes = 256
)

// AuthConfig configures inbound token validation. Audience, at least one
// Issuer and one of JWKSURL or OpenIDURL are required; the rest default.
type AuthConfig struct {
	// JWKSURL is where the signing keys are. If empty, OpenIDURL is fetched
	// on each key refresh and its jwks_uri is used.
	JWKSURL   string
	OpenIDURL string
	// Issuers are the accepted iss values (see GraphIssuers).
	Issuers []string
	// Audience is the bot's app id; the token's aud must contain it.
	Audience string
	// ClockSkew is the leeway on exp and nbf; DefaultClockSkew if zero.
	ClockSkew time.Duration
	// HTTPClient fetches keys; a client with DefaultHTTPTimeout if nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil. Tests set it.
	Now func() time.Time
	// MinRefreshInterval is the least time between two key fetches, so a
	// flood of tokens with made-up kids cannot hammer the key endpoint;
	// DefaultMinRefreshInterval if zero.
	MinRefreshInterval time.Duration
}

// Claims are the validated facts of a callback token. TenantID is the tenant
// the call belongs to, which outbound Graph requests authenticate against.
type Claims struct {
	Issuer   string
	Audience string
	TenantID string
	Subject  string
	Expiry   time.Time
}

// Authenticator validates the bearer token Graph sends on every callback.
// It is safe for concurrent use. Keys are fetched lazily on first use, cached
// for two hours, and refetched early when a token names an unknown kid (at
// most once per MinRefreshInterval).
type Authenticator struct {
	cfg      AuthConfig
	keys     *keyCache
	verified verifiedTokens
}

// NewAuthenticator checks cfg and applies defaults. It does no network I/O,
// so a start-up failure here is always a configuration mistake; errors wrap
// ErrAuthConfig.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Audience (the bot's app id) is required", ErrAuthConfig)
	}
	if len(cfg.Issuers) == 0 {
		return nil, fmt.Errorf("%w: at least one Issuer is required", ErrAuthConfig)
	}
	for _, iss := range cfg.Issuers {
		if iss == "" {
			return nil, fmt.Errorf("%w: empty Issuer", ErrAuthConfig)
		}
	}
	if cfg.JWKSURL == "" && cfg.OpenIDURL == "" {
		return nil, fmt.Errorf("%w: JWKSURL or OpenIDURL is required", ErrAuthConfig)
	}
	for _, u := range []string{cfg.JWKSURL, cfg.OpenIDURL} {
		if err := checkHTTPURL(u); err != nil {
			return nil, err
		}
	}
	if cfg.ClockSkew < 0 || cfg.MinRefreshInterval < 0 {
		return nil, fmt.Errorf("%w: negative ClockSkew or MinRefreshInterval", ErrAuthConfig)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(DefaultHTTPTimeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Issuers = append([]string(nil), cfg.Issuers...)
	a := &Authenticator{cfg: cfg}
	a.keys = &keyCache{cfg: &a.cfg}
	return a, nil
}

func checkHTTPURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrAuthConfig, raw)
	}
	return nil
}

// Authenticate validates authorization, the raw Authorization header value,
// which must be "Bearer <jwt>". The token must be RS256-signed by a key in
// the JWKS, issued by one of Issuers, addressed to Audience, within exp and
// nbf (give or take ClockSkew), and carry a tid. Every failure wraps
// ErrUnauthorized with a one-line reason. It may fetch keys, bounded by ctx
// and the HTTP client's timeout.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Claims, error) {
	raw, err := bearerToken(authorization)
	if err != nil {
		return Claims{}, err
	}
	sum := sha256.Sum256([]byte(raw))
	if v, ok := a.verified.get(sum); ok {
		if key, err := a.keys.lookup(ctx, v.kid); err == nil && key == v.key {
			if err := a.checkClaims(&v.std, v.tid); err != nil {
				return Claims{}, err
			}
			return a.claims(&v.std, v.tid), nil
		}
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return Claims{}, unauthorized("malformed token or algorithm not RS256")
	}
	kid := tok.Headers[0].KeyID
	switch {
	case kid == "":
		return Claims{}, unauthorized("token has no kid")
	case len(kid) > maxKidBytes:
		// A key is named in a few dozen characters: a longer kid is made
		// up, and is not quoted back into the log and the 401.
		return Claims{}, unauthorized("token's kid is too long")
	}
	key, err := a.keys.lookup(ctx, kid)
	if err != nil {
		return Claims{}, err
	}
	var std jwt.Claims
	var extra struct {
		TenantID string `json:"tid"`
	}
	if err := tok.Claims(key, &std, &extra); err != nil {
		return Claims{}, unauthorized("bad signature")
	}
	if err := a.checkClaims(&std, extra.TenantID); err != nil {
		return Claims{}, err
	}
	a.verified.put(sum, verifiedToken{kid: kid, key: key, std: std, tid: extra.TenantID})
	return a.claims(&std, extra.TenantID), nil
}

// claims is what an accepted token says of its sender.
func (a *Authenticator) claims(std *jwt.Claims, tid string) Claims {
	return Claims{
		Issuer:   std.Issuer,
		Audience: a.cfg.Audience,
		TenantID: tid,
		Subject:  std.Subject,
		Expiry:   std.Expiry.Time(),
	}
}

func bearerToken(authorization string) (string, error) {
	if authorization == "" {
		return "", unauthorized("missing Authorization header")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("Authorization is not a Bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", unauthorized("empty Bearer token")
	}
	return token, nil
}

func (a *Authenticator) checkClaims(c *jwt.Claims, tid string) error {
	if !containsString(a.cfg.Issuers, c.Issuer) {
		return unauthorized(fmt.Sprintf("issuer %q not accepted", c.Issuer))
	}
	if !c.Audience.Contains(a.cfg.Audience) {
		return unauthorized("audience is not this bot")
	}
	now := a.cfg.Now()
	if c.Expiry == nil {
		return unauthorized("token has no exp")
	}
	if now.After(c.Expiry.Time().Add(a.cfg.ClockSkew)) {
		return unauthorized("token expired")
	}
	if c.NotBefore != nil && now.Add(a.cfg.ClockSkew).Before(c.NotBefore.Time()) {
		return unauthorized("token not yet valid")
	}
	if tid == "" {
		return unauthorized("token has no tid")
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func unauthorized(reason string) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, reason)
}
