package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

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
	// DefaultTenant is used when a call names no tenant.
	DefaultTenant string
	// HTTPClient; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Client makes the bot's requests to Graph with client-credentials tokens,
// cached per tenant and refreshed shortly before they expire. It is safe for
// concurrent use.
type Client struct {
	cfg   ClientConfig
	http  *http.Client
	scope string

	mu     sync.Mutex
	tokens map[string]oauth2.TokenSource
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
	cfg.GraphURL = strings.TrimRight(cfg.GraphURL, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{
		cfg:    cfg,
		http:   hc,
		scope:  base.Scheme + "://" + base.Host + "/.default",
		tokens: map[string]oauth2.TokenSource{},
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

// do sends one request and decodes a JSON reply into out (when non-nil).
// A non-2xx reply becomes an *APIError carrying Graph's error body.
func (c *Client) do(ctx context.Context, tenant, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.GraphURL+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	tok, err := c.token(ctx, tenant)
	if err != nil {
		return fmt.Errorf("%s %s: token: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return newAPIError(method, path, resp, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: reply: %w", method, path, err)
		}
	}
	return nil
}

// token returns a valid access token for tenant, from the cache when it can.
func (c *Client) token(ctx context.Context, tenant string) (string, error) {
	if tenant == "" {
		tenant = c.cfg.DefaultTenant
	}
	c.mu.Lock()
	src, ok := c.tokens[tenant]
	if !ok {
		cc := clientcredentials.Config{
			ClientID:     c.cfg.ClientID,
			ClientSecret: c.cfg.ClientSecret,
			TokenURL:     strings.ReplaceAll(c.cfg.TokenURL, "{tenant}", url.PathEscape(orCommon(tenant))),
			Scopes:       []string{c.scope},
			AuthStyle:    oauth2.AuthStyleInParams,
		}
		// The source outlives this request: give it a context of its own
		// that carries only the HTTP client.
		src = cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, c.http))
		c.tokens[tenant] = src
	}
	c.mu.Unlock()
	t, err := src.Token()
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

func orCommon(tenant string) string {
	if tenant == "" {
		return "common"
	}
	return tenant
}
