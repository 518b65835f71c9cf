package signaling

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientConfig configures the outbound Graph client.
type ClientConfig struct {
	// GraphURL is Graph's base with the API version, e.g.
	// https://graph.microsoft.com/v1.0.
	GraphURL string
	// TokenURL is the client-credentials endpoint; "{tenant}" in it is
	// replaced by the call's tenant.
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Certificate and PrivateKey are a certificate credential (RSA), used
	// instead of ClientSecret when set: each token request carries a client
	// assertion signed with PrivateKey and naming Certificate by its
	// thumbprint (see LoadCertificate). Set both or neither.
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer
	// DefaultTenant is used when a call names no tenant.
	DefaultTenant string
	// HTTPClient; nil is a client with a 10 s timeout (per attempt).
	HTTPClient *http.Client
	// Retry says how throttled and failed requests are retried; the zero
	// value is the default policy (see RetryPolicy).
	Retry RetryPolicy
	// TokenFailed, when set, is told of each failed fetch of an access
	// token for tenant: stillValid when the token held still serves (a
	// fetch ahead of its expiry: no request failed), else the requests
	// waiting for the token fail with ErrToken.
	TokenFailed func(tenant string, stillValid bool, err error)
}

// defaultGraphTimeout bounds one request to Graph or to the token
// endpoint when the HTTP client given sets no timeout.
const defaultGraphTimeout = 10 * time.Second

// Client makes the bot's requests to Graph with client-credentials tokens,
// cached per tenant and fetched again from half their lifetime on (see
// tokenCache). Each logical
// request carries a client-request-id GUID of its own and is retried on
// 429, 5xx and transport errors as ClientConfig.Retry says, never waiting
// past the context's deadline. It is safe for concurrent use.
type Client struct {
	cfg   ClientConfig
	http  *http.Client
	scope string
	retry RetryPolicy

	// assertionSigner signs client assertions; nil with a client secret.
	assertionSigner jose.Signer

	mu     sync.Mutex
	tokens map[string]*tokenCache
}

// NewClient checks cfg and returns a client; it does no network I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := url.Parse(cfg.GraphURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("signaling: graph URL %q is not an absolute URL", cfg.GraphURL)
	}
	if cfg.TokenURL == "" || cfg.ClientID == "" {
		return nil, fmt.Errorf("signaling: the Graph client needs a token URL and a client id")
	}
	if (cfg.Certificate == nil) != (cfg.PrivateKey == nil) {
		return nil, fmt.Errorf("signaling: a certificate credential needs both the certificate and its private key")
	}
	var sig jose.Signer
	if cfg.Certificate != nil {
		var err error
		if sig, err = newAssertionSigner(cfg.Certificate, cfg.PrivateKey); err != nil {
			return nil, err
		}
	}
	cfg.GraphURL = strings.TrimRight(cfg.GraphURL, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient(defaultGraphTimeout)
	}
	return &Client{
		cfg:             cfg,
		http:            hc,
		scope:           base.Scheme + "://" + base.Host + "/.default",
		retry:           cfg.Retry.withDefaults(),
		assertionSigner: sig,
		tokens:          map[string]*tokenCache{},
	}, nil
}

// Answer POSTs /communications/calls/{id}/answer. Graph answers 202.
func (c *Client) Answer(ctx context.Context, tenant, callID string, req AnswerRequest) error {
	return c.do(ctx, tenant, http.MethodPost, "/communications/calls/"+url.PathEscape(callID)+"/answer", req, nil)
}

// Reject POSTs /communications/calls/{id}/reject with reason none, busy or
// forbidden. Graph answers 202.
func (c *Client) Reject(ctx context.Context, tenant, callID string, req RejectRequest) error {
	return c.do(ctx, tenant, http.MethodPost, "/communications/calls/"+url.PathEscape(callID)+"/reject", req, nil)
}

// Hangup DELETEs the call (for a group call, only the bot's leg).
func (c *Client) Hangup(ctx context.Context, tenant, callID string) error {
	return c.do(ctx, tenant, http.MethodDelete, "/communications/calls/"+url.PathEscape(callID), nil, nil)
}

// KeepAlive POSTs /communications/calls/{id}/keepAlive; Graph ends a call
// that has not been kept alive for 45 minutes, and answers 404 once a call
// is gone (errors.Is(err, ErrCallGone)).
func (c *Client) KeepAlive(ctx context.Context, tenant, callID string) error {
	return c.do(ctx, tenant, http.MethodPost, "/communications/calls/"+url.PathEscape(callID)+"/keepAlive", nil, nil)
}

// graphRequest is one logical request to Graph. The body is kept as bytes
// so that every attempt sends it again unchanged.
type graphRequest struct {
	method string
	url    string // absolute
	path   string // below the Graph base, for errors
	body   []byte // nil: no body
	// notIdempotent requests (creating a call) are retried only when
	// throttled: a 5xx or a lost reply may hide a request Graph acted on.
	notIdempotent bool
}

// reply is Graph's 2xx answer to a request.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one logical request (retried as the client's RetryPolicy says)
// and decodes a JSON reply into out (when non-nil). A non-2xx reply becomes
// an *APIError carrying Graph's error body.
func (c *Client) do(ctx context.Context, tenant, method, path string, body, out any) error {
	rep, err := c.call(ctx, tenant, method, path, body)
	if err != nil {
		return err
	}
	if out != nil && len(rep.body) > 0 {
		if err := json.Unmarshal(rep.body, out); err != nil {
			return fmt.Errorf("%s %s: %w: %w", method, path, ErrBadReply, err)
		}
	}
	return nil
}

// call marshals body and sends the request to {graph}{path}.
func (c *Client) call(ctx context.Context, tenant, method, path string, body any) (*reply, error) {
	r := graphRequest{method: method, url: c.cfg.GraphURL + path, path: path}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		r.body = raw
	}
	return c.send(ctx, tenant, r)
}

// send makes the attempts of one logical request: all carry the same
// client-request-id, so Graph's logs tie them together. Throttling (429),
// Graph-side failures (5xx) and transport errors are retried with full
// jitter backoff, or after Retry-After when Graph sets it; a wait that
// would cross ctx's deadline is not started, and the last error is
// returned instead. Token failures and other refusals are final.
func (c *Client) send(ctx context.Context, tenant string, r graphRequest) (*reply, error) {
	clientRequestID := NewGUID()
	for attempt := 1; ; attempt++ {
		rep, err := c.attempt(ctx, tenant, r, clientRequestID, attempt)
		if err == nil {
			return rep, nil
		}
		wait, again := c.retryWait(err, attempt, r.notIdempotent)
		if !again || ctx.Err() != nil {
			return nil, err
		}
		if sleepWithin(ctx, wait) != nil {
			return nil, err
		}
	}
}

// retryWait says whether attempt's failure err is worth another attempt,
// and how long to wait before it.
func (c *Client) retryWait(err error, attempt int, notIdempotent bool) (time.Duration, bool) {
	if attempt >= c.retry.Attempts {
		return 0, false
	}
	var apiErr *APIError
	var tErr *transportError
	switch {
	case errors.As(err, &apiErr):
		if !retryable(apiErr.Status) || (notIdempotent && apiErr.Status != http.StatusTooManyRequests) {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter, apiErr.RetryAfter <= c.retry.MaxRetryAfter
		}
	case errors.As(err, &tErr) && !notIdempotent:
	default:
		return 0, false
	}
	return c.retry.backoff(attempt), true
}

// transportError is a request that got no HTTP reply at all.
type transportError struct {
	method, path string
	attempt      int
	err          error
}

func (e *transportError) Error() string {
	if e.attempt > 1 {
		return fmt.Sprintf("%s %s (attempt %d): %v", e.method, e.path, e.attempt, e.err)
	}
	return fmt.Sprintf("%s %s: %v", e.method, e.path, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// attempt sends r once; n counts the attempts of this request, from 1.
func (c *Client) attempt(ctx context.Context, tenant string, r graphRequest, clientRequestID string, n int) (*reply, error) {
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	tok, err := c.token(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", r.method, r.path, ErrToken, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("client-request-id", clientRequestID)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{method: r.method, path: r.path, attempt: n, err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		e := newAPIError(r.method, r.path, resp, raw)
		e.Attempts = n
		if e.ClientRequestID == "" {
			e.ClientRequestID = clientRequestID
		}
		return nil, e
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// token returns an access token for tenant, from the cache when it can.
func (c *Client) token(ctx context.Context, tenant string) (string, error) {
	if tenant == "" {
		tenant = c.cfg.DefaultTenant
	}
	c.mu.Lock()
	cache, ok := c.tokens[tenant]
	if !ok {
		cache = c.newTokenCache(tenant)
		c.tokens[tenant] = cache
	}
	c.mu.Unlock()
	return cache.token(ctx)
}

// newTokenCache returns the token cache of one tenant, fetching from its
// token endpoint with a client assertion when the client has a
// certificate, with the client secret otherwise.
func (c *Client) newTokenCache(tenant string) *tokenCache {
	tokenURL := strings.ReplaceAll(c.cfg.TokenURL, "{tenant}", url.PathEscape(orCommon(tenant)))
	cache := &tokenCache{timeout: cmp.Or(c.http.Timeout, defaultGraphTimeout)}
	if c.cfg.TokenFailed != nil {
		cache.failed = func(stillValid bool, err error) { c.cfg.TokenFailed(tenant, stillValid, err) }
	}
	if c.assertionSigner != nil {
		src := &assertionTokenSource{http: c.http, tokenURL: tokenURL, clientID: c.cfg.ClientID, scope: c.scope, signer: c.assertionSigner}
		cache.fetch = src.token
		return cache
	}
	cc := clientcredentials.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		TokenURL:     tokenURL,
		Scopes:       []string{c.scope},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	cache.fetch = func(ctx context.Context) (*oauth2.Token, error) {
		return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	}
	return cache
}

func orCommon(tenant string) string {
	if tenant == "" {
		return "common"
	}
	return tenant
}
