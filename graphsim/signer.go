package graphsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signer makes the RS256 tokens graphsim puts on every notification, and
// publishes their key as a JWKS.
type signer struct {
	key *rsa.PrivateKey
	kid string
	sig jose.Signer
}

func newSigner() (*signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	kid := randomID(8)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, err
	}
	return &signer{key: key, kid: kid, sig: sig}, nil
}

// token signs a notification token as Graph does: issuer, the bot's app id
// as audience, an hour of validity and the tenant in tid.
func (s *signer) token(issuer, audience, tenant string) (string, error) {
	now := time.Now()
	claims := jwt.Claims{
		Issuer:    issuer,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry:    jwt.NewNumericDate(now.Add(time.Hour)),
	}
	tok, err := jwt.Signed(s.sig).Claims(claims).Claims(map[string]any{"tid": tenant}).Serialize()
	if err != nil {
		return "", fmt.Errorf("graphsim: sign token: %w", err)
	}
	return tok, nil
}

func (s *signer) jwks() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: "RS256", Use: "sig"}}}
}

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
