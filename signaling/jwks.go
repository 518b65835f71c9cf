package signaling

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxKeyDocumentBytes bounds what a key or OpenID endpoint may make us read.
const maxKeyDocumentBytes = 1 << 20

// keyCache holds the RSA signing keys by kid. One mutex guards it, held
// across fetches: concurrent callers needing a refresh then wait for the one
// fetch in flight instead of each starting their own.
type keyCache struct {
	cfg *AuthConfig

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time // last successful fetch
	attempted bool
	attemptAt time.Time // last fetch attempt, successful or not
}

// lookup returns the key for kid, fetching the key set when it has never
// been fetched, is older than keyCacheTTL, or lacks kid, but never more often
// than MinRefreshInterval. A failed refresh keeps the keys already held, so a
// key endpoint outage does not reject tokens signed with known keys.
func (c *keyCache) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	key, ok := c.keys[kid]
	stale := c.keys == nil || now.Sub(c.fetchedAt) >= keyCacheTTL
	if ok && !stale {
		return key, nil
	}
	var fetchErr error
	if !c.attempted || now.Sub(c.attemptAt) >= c.cfg.MinRefreshInterval {
		fetchErr = c.refresh(ctx, now)
	}
	if key, ok := c.keys[kid]; ok {
		return key, nil
	}
	if c.keys == nil {
		if fetchErr == nil {
			return nil, fmt.Errorf("%w: the last fetch failed, the next is rate-limited", ErrKeysUnavailable)
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, fetchErr)
	}
	return nil, unauthorized(fmt.Sprintf("unknown signing key %q", kid))
}

// refresh replaces the key set with a freshly fetched one. Called with mu
// held.
func (c *keyCache) refresh(ctx context.Context, now time.Time) error {
	c.attempted, c.attemptAt = true, now
	jwksURL := c.cfg.JWKSURL
	if jwksURL == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := c.getJSON(ctx, c.cfg.OpenIDURL, &doc); err != nil {
			return err
		}
		if err := checkHTTPURL(doc.JWKSURI); err != nil || doc.JWKSURI == "" {
			return fmt.Errorf("OpenID configuration has no usable jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := c.getJSON(ctx, jwksURL, &set); err != nil {
		return err
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		// Keys are decoded one by one so that one key of a type go-jose
		// does not know cannot hide the RSA keys beside it.
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil || k.KeyID == "" {
			continue
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(jose.RS256)) {
			continue
		}
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			keys[k.KeyID] = pub
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s has no RSA signing keys", jwksURL)
	}
	c.keys, c.fetchedAt = keys, now
	return nil
}

func (c *keyCache) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeyDocumentBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
