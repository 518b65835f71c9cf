package graphsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signer makes the RS256 tokens graphsim puts on every notification, and
// publishes their keys as a JWKS. Keys rotate as Graph's do: a new key signs
// from its rotation on, the one before stays published.
type signer struct {
	mu     sync.Mutex
	keys   []*signingKey // the last signs; at most two
	issued map[tokenFor]issuedToken
}

// tokenReuse is how long a notification token is put on notifications
// before a new one is signed: a token is good for an hour, and a service
// that sends thousands of notifications a second does not sign each (an
// RS256 signature costs graphsim about 2 ms of CPU, which in a load test
// shares the bot's cores).
const tokenReuse = 5 * time.Minute

// tokenFor is what a notification token says, and the key that signs it.
type tokenFor struct{ issuer, audience, tenant, kid string }

type issuedToken struct {
	raw string
	at  time.Time
}

type signingKey struct {
	key *rsa.PrivateKey
	kid string
	sig jose.Signer
}

func newSigner() (*signer, error) {
	s := &signer{issued: map[tokenFor]issuedToken{}}
	if _, err := s.rotate(); err != nil {
		return nil, err
	}
	return s, nil
}

// rotate makes a new key the signing one and returns its kid.
func (s *signer) rotate() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	kid := randomID(8)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, &signingKey{key: key, kid: kid, sig: sig})
	if len(s.keys) > 2 {
		s.keys = s.keys[len(s.keys)-2:]
	}
	return kid, nil
}

// signing is the key that signs now.
func (s *signer) signing() *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// token returns a notification token as Graph signs it: issuer, the bot's
// app id as audience, an hour of validity and the tenant in tid; the same
// one for tokenReuse, while the same key signs.
func (s *signer) token(issuer, audience, tenant string) (string, error) {
	key := s.signing()
	want := tokenFor{issuer, audience, tenant, key.kid}
	now := time.Now()
	s.mu.Lock()
	t, ok := s.issued[want]
	s.mu.Unlock()
	if ok && now.Sub(t.at) < tokenReuse {
		return t.raw, nil
	}
	claims := jwt.Claims{
		Issuer:    issuer,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry:    jwt.NewNumericDate(now.Add(time.Hour)),
	}
	tok, err := jwt.Signed(key.sig).Claims(claims).Claims(map[string]any{"tid": tenant}).Serialize()
	if err != nil {
		return "", fmt.Errorf("graphsim: sign token: %w", err)
	}
	s.mu.Lock()
	s.issued[want] = issuedToken{raw: tok, at: now}
	s.mu.Unlock()
	return tok, nil
}

func (s *signer) jwks() jose.JSONWebKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	return set
}

// RotateSigningKey has Graph sign notifications with a new key from now on,
// published in the JWKS beside the one before, and returns its kid. A bot
// that holds only the old key must fetch the JWKS again to check them.
func (s *Sim) RotateSigningKey() (kid string, err error) { return s.signer.rotate() }

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
