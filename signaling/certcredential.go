package signaling

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential: the client_assertion is a JWT signed with the app's key.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid. Each token
// request signs a fresh one, so it only has to outlive the request.
const assertionLifetime = 10 * time.Minute

// LoadCertificate reads an app registration's certificate credential: the
// first CERTIFICATE block of certFile and the RSA private key of keyFile
// ("RSA PRIVATE KEY" is PKCS#1, "PRIVATE KEY" PKCS#8). It refuses a key that
// is not the certificate's, so a mismatch fails at start-up rather than at
// the first token request. Both files may be the same file.
func LoadCertificate(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := loadCertificatePEM(certFile)
	if err != nil {
		return nil, nil, err
	}
	key, err := loadRSAKeyPEM(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("signaling: private key %s does not belong to certificate %s", keyFile, certFile)
	}
	return cert, key, nil
}

func loadCertificatePEM(file string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("signaling: client certificate: %w", err)
	}
	for block, rest := pem.Decode(raw); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signaling: client certificate %s: %w", file, err)
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("signaling: client certificate %s: the key is %T, Entra ID needs RSA", file, cert.PublicKey)
		}
		return cert, nil
	}
	return nil, fmt.Errorf("signaling: client certificate %s: no PEM CERTIFICATE block", file)
}

func loadRSAKeyPEM(file string) (*rsa.PrivateKey, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("signaling: client key: %w", err)
	}
	for block, rest := pem.Decode(raw); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signaling: client key %s: %w", file, err)
			}
			return key, nil
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signaling: client key %s: %w", file, err)
			}
			rsaKey, ok := key.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("signaling: client key %s: the key is %T, Entra ID needs RSA", file, key)
			}
			return rsaKey, nil
		}
	}
	return nil, fmt.Errorf("signaling: client key %s: no PEM \"RSA PRIVATE KEY\" or \"PRIVATE KEY\" block", file)
}

// CertificateThumbprints returns the x5t and x5t#S256 of cert: the
// base64url SHA-1 and SHA-256 of its DER encoding, by which Entra ID finds
// the certificate registered on the app.
func CertificateThumbprints(cert *x509.Certificate) (x5t, x5tS256 string) {
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(s1[:]), base64.RawURLEncoding.EncodeToString(s256[:])
}

// newAssertionSigner checks that key is an RSA key and returns the RS256
// signer whose JWT headers name cert by its thumbprints.
func newAssertionSigner(cert *x509.Certificate, key crypto.Signer) (jose.Signer, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("signaling: client key is %T, Entra ID needs RSA", key.Public())
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("signaling: client certificate key is %T, Entra ID needs RSA", cert.PublicKey)
	}
	var signingKey any = cryptosigner.Opaque(key) // an HSM or KMS key
	if k, ok := key.(*rsa.PrivateKey); ok {
		signingKey = k
	}
	x5t, x5tS256 := CertificateThumbprints(cert)
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", x5t).WithHeader("x5t#S256", x5tS256)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signingKey}, opts)
	if err != nil {
		return nil, fmt.Errorf("signaling: client assertion signer: %w", err)
	}
	return sig, nil
}

// assertionTokenSource gets client-credentials tokens from one tenant's
// token endpoint with a certificate credential: every request carries a
// freshly signed client assertion instead of a client secret. It does no
// caching (see tokenCache).
type assertionTokenSource struct {
	http     *http.Client
	tokenURL string
	clientID string
	scope    string
	signer   jose.Signer
}

// token requests a new access token.
func (s *assertionTokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	assertion, err := s.assertion(time.Now())
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {s.clientID},
		"scope":                 {s.scope},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token endpoint %s: %w", s.tokenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("token endpoint %s: read reply: %w", s.tokenURL, err)
	}
	return parseTokenReply(s.tokenURL, resp.StatusCode, raw)
}

// assertion signs the client assertion Entra ID documents for certificate
// credentials: aud the token endpoint, iss and sub the client id, a unique
// jti and ten minutes of validity from now.
func (s *assertionTokenSource) assertion(now time.Time) (string, error) {
	claims := jwt.Claims{
		Issuer:    s.clientID,
		Subject:   s.clientID,
		Audience:  jwt.Audience{s.tokenURL},
		ID:        NewGUID(), // a GUID, as Entra ID's samples use
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	tok, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return tok, nil
}

// tokenReply is the token endpoint's answer, success or error. Some
// endpoints send expires_in as a string, which json.Number accepts too.
type tokenReply struct {
	AccessToken      string      `json:"access_token"`
	TokenType        string      `json:"token_type"`
	ExpiresIn        json.Number `json:"expires_in"`
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`
}

func parseTokenReply(tokenURL string, status int, raw []byte) (*oauth2.Token, error) {
	var rep tokenReply
	jsonErr := json.Unmarshal(raw, &rep)
	if status/100 != 2 || rep.Error != "" {
		if rep.Error == "" {
			return nil, fmt.Errorf("token endpoint %s answered %d: %.200s", tokenURL, status, raw)
		}
		return nil, fmt.Errorf("token endpoint %s answered %d: %s: %s", tokenURL, status, rep.Error, rep.ErrorDescription)
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("token endpoint %s: reply is not JSON: %w", tokenURL, jsonErr)
	}
	if rep.AccessToken == "" {
		return nil, errors.New("token endpoint " + tokenURL + ": reply has no access_token")
	}
	t := &oauth2.Token{AccessToken: rep.AccessToken, TokenType: rep.TokenType}
	if rep.ExpiresIn != "" {
		secs, err := rep.ExpiresIn.Int64()
		if err != nil {
			return nil, fmt.Errorf("token endpoint %s: expires_in %q: %w", tokenURL, rep.ExpiresIn, err)
		}
		if secs > 0 {
			t.Expiry = time.Now().Add(time.Duration(secs) * time.Second)
		}
	}
	return t, nil
}
