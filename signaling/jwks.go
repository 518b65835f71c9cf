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

// keyCache holds the RSA signing keys by kid. Its mutex guards the state
// only, never a fetch (see keyFetch): concurrent callers needing a refresh
// share the one fetch in flight.
type keyCache struct {
	cfg *AuthConfig

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time // when the key set held was fetched
	attempted bool
	attemptAt time.Time // when the last fetch began, successful or not
	fetch     *keyFetch // the fetch in flight, nil when none
}

// lookup returns the key for kid. The key set is fetched again when it has
// never been, is older than keyCacheTTL, or lacks kid, but a fetch never
// begins less than MinRefreshInterval after the last. A key held is
// returned at once, even from a stale set being fetched again: a key
// endpoint that is down or hangs delays no token signed with a known key,
// and a failed fetch keeps the keys held. A token naming a kid the set
// lacks waits for the fetch unknownKidWait at most, or, before any set is
// held, as long as the fetch and ctx allow.
func (c *keyCache) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	now := c.cfg.Now()
	key, known := c.keys[kid]
	held := c.keys != nil
	var f *keyFetch
	if !known || now.Sub(c.fetchedAt) >= keyCacheTTL {
		f = c.startFetch(now)
	}
	c.mu.Unlock()
	if known {
		return key, nil
	}
	fetchErr := f.wait(ctx, held)
	c.mu.Lock()
	defer c.mu.Unlock()
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

// fetchKeys fetches the key set: its RSA signing keys by kid.
func (c *keyCache) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	jwksURL := c.cfg.JWKSURL
	if jwksURL == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := c.getJSON(ctx, c.cfg.OpenIDURL, &doc); err != nil {
			return nil, err
		}
		if err := checkHTTPURL(doc.JWKSURI); err != nil || doc.JWKSURI == "" {
			return nil, fmt.Errorf("OpenID configuration has no usable jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := c.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, err
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
		return nil, fmt.Errorf("%s has no RSA signing keys", jwksURL)
	}
	return keys, nil
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
