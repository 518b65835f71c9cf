package signaling_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testcert"
	"github.com/mediabot-dev/mediabot/signaling"
)

// tokenCounter is a transport that counts token requests and keeps the
// form of the last one.
type tokenCounter struct {
	mu       sync.Mutex
	requests int
	lastForm url.Values
	lastURL  string
}

func (c *tokenCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") {
		body, _ := req.GetBody()
		raw, _ := io.ReadAll(body)
		form, _ := url.ParseQuery(string(raw))
		c.mu.Lock()
		c.requests++
		c.lastForm, c.lastURL = form, req.URL.String()
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (c *tokenCounter) snapshot() (int, url.Values, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.lastForm, c.lastURL
}

// startCertSim starts graphsim with cert registered on the app, and a
// client that signs its assertions with key.
func startCertSim(t *testing.T, cert *x509.Certificate, key *rsa.PrivateKey) (*graphsim.Sim, *signaling.Client, *tokenCounter) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Config{TenantID: "tenant-1", ClientID: "app", ClientCertificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	counter := &tokenCounter{}
	client, err := signaling.NewClient(signaling.ClientConfig{
		GraphURL: sim.GraphURL(), TokenURL: sim.URL() + "/{tenant}/oauth2/v2.0/token",
		ClientID: "app", Certificate: cert, PrivateKey: key, DefaultTenant: "tenant-1",
		HTTPClient: &http.Client{Transport: counter, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, client, counter
}

func TestCertificateCredentialTokenIsAcceptedByGraph(t *testing.T) {
	cert, key := testcert.App(t)
	_, client, _ := startCertSim(t, cert, key)
	// A 404 for an unknown call is Graph's answer to an authorized request:
	// without a token graphsim answers 401.
	err := client.KeepAlive(context.Background(), "", "no-such-call")
	var apiErr *signaling.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || !errors.Is(err, signaling.ErrCallGone) {
		t.Fatalf("KeepAlive: got %v, want a 404 APIError (call gone)", err)
	}
}

func TestCertificateCredentialWrongKeyIsRefused(t *testing.T) {
	cert, _ := testcert.App(t)
	_, otherKey := testcert.App(t)
	_, client, counter := startCertSim(t, cert, otherKey)
	err := client.KeepAlive(context.Background(), "", "no-such-call")
	if err == nil {
		t.Fatal("KeepAlive with an assertion signed by the wrong key succeeded")
	}
	var apiErr *signaling.APIError
	if errors.As(err, &apiErr) {
		t.Fatalf("got a Graph refusal %v, want the token endpoint's", err)
	}
	for _, want := range []string{"token", "invalid_client", "AADSTS700027", "invalid signature"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n, _, _ := counter.snapshot(); n != 1 {
		t.Errorf("token requests = %d, want 1 (a refusal is final)", n)
	}
}

func TestCertificateCredentialTokenIsCachedPerTenant(t *testing.T) {
	cert, key := testcert.App(t)
	_, client, counter := startCertSim(t, cert, key)
	ctx := context.Background()
	for range 2 {
		if err := client.KeepAlive(ctx, "", "no-such-call"); !errors.Is(err, signaling.ErrCallGone) {
			t.Fatalf("KeepAlive: %v", err)
		}
	}
	if n, _, _ := counter.snapshot(); n != 1 {
		t.Fatalf("token requests after two calls = %d, want 1", n)
	}
	if err := client.KeepAlive(ctx, "tenant-2", "no-such-call"); !errors.Is(err, signaling.ErrCallGone) {
		t.Fatalf("KeepAlive in tenant-2: %v", err)
	}
	n, _, tokenURL := counter.snapshot()
	if n != 2 || !strings.Contains(tokenURL, "/tenant-2/") {
		t.Fatalf("token requests = %d (last %s), want a second one for tenant-2", n, tokenURL)
	}
}

func TestCertificateCredentialRequestIsEntraIDs(t *testing.T) {
	cert, key := testcert.App(t)
	_, client, counter := startCertSim(t, cert, key)
	before := time.Now().Truncate(time.Second)
	if err := client.KeepAlive(context.Background(), "", "no-such-call"); !errors.Is(err, signaling.ErrCallGone) {
		t.Fatalf("KeepAlive: %v", err)
	}
	_, form, tokenURL := counter.snapshot()
	for k, want := range map[string]string{
		"grant_type": "client_credentials", "client_id": "app", "client_assertion_type": signaling.ClientAssertionType,
	} {
		if got := form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if form.Has("client_secret") {
		t.Error("a client_secret was sent with the assertion")
	}
	if !strings.HasSuffix(form.Get("scope"), "/.default") {
		t.Errorf("scope = %q", form.Get("scope"))
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	x5t, x5tS256 := signaling.CertificateThumbprints(cert)
	h := tok.Headers[0]
	if h.ExtraHeaders["x5t"] != x5t || h.ExtraHeaders["x5t#S256"] != x5tS256 || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("headers %v, want x5t %s, x5t#S256 %s, typ JWT", h.ExtraHeaders, x5t, x5tS256)
	}
	var claims jwt.Claims
	if err := tok.Claims(&key.PublicKey, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != "app" || claims.Subject != "app" || len(claims.Audience) != 1 || claims.Audience[0] != tokenURL || claims.ID == "" {
		t.Errorf("claims %+v, want iss = sub = app, aud %s, a jti", claims, tokenURL)
	}
	nbf, exp := claims.NotBefore.Time(), claims.Expiry.Time()
	if nbf.Before(before) || exp.Sub(nbf) != 10*time.Minute {
		t.Errorf("nbf %v, exp %v: want nbf now and exp ten minutes later", nbf, exp)
	}
}

func TestCertificateCredentialUnregisteredIsRefused(t *testing.T) {
	cert, key := testcert.App(t)
	sim, err := graphsim.Start(graphsim.Config{TenantID: "tenant-1", ClientID: "app", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	client, err := signaling.NewClient(signaling.ClientConfig{
		GraphURL: sim.GraphURL(), TokenURL: sim.TokenURL(), ClientID: "app", Certificate: cert, PrivateKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = client.KeepAlive(context.Background(), "", "no-such-call")
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("KeepAlive with an unregistered certificate: %v, want invalid_client", err)
	}
}

func TestNewClientRefusesHalfACertificateCredential(t *testing.T) {
	cert, key := testcert.App(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]signaling.ClientConfig{
		"certificate without key": {Certificate: cert},
		"key without certificate": {PrivateKey: key},
		"non-RSA key":             {Certificate: cert, PrivateKey: ecKey},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.GraphURL, cfg.TokenURL, cfg.ClientID = "https://graph.microsoft.com/v1.0", "https://login/{tenant}/token", "app"
			if _, err := signaling.NewClient(cfg); err == nil {
				t.Fatal("NewClient accepted it")
			}
		})
	}
}

// writePEM writes blocks to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadCertificate(t *testing.T) {
	cert, key := testcert.App(t)
	_, otherKey := testcert.App(t)
	dir := t.TempDir()
	certBlock := &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}
	pkcs1 := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	pkcs8DER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8DER}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)

	certFile := writePEM(t, dir, "cert.pem", certBlock)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a PEM file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		certFile, keyFile string
		wantErr           string // "" = loads
	}{
		{"PKCS#1 key", certFile, writePEM(t, dir, "pkcs1.pem", pkcs1), ""},
		{"PKCS#8 key", certFile, writePEM(t, dir, "pkcs8.pem", pkcs8), ""},
		{"certificate and key in one file", writePEM(t, dir, "both.pem", pkcs8, certBlock), filepath.Join(dir, "both.pem"), ""},
		{"missing certificate file", filepath.Join(dir, "nope.pem"), filepath.Join(dir, "pkcs1.pem"), "client certificate: open"},
		{"missing key file", certFile, filepath.Join(dir, "nope.pem"), "client key: open"},
		{"garbage certificate file", garbage, filepath.Join(dir, "pkcs1.pem"), "no PEM CERTIFICATE block"},
		{"garbage key file", certFile, garbage, "no PEM \"RSA PRIVATE KEY\" or \"PRIVATE KEY\" block"},
		{"corrupt certificate", writePEM(t, dir, "corrupt.pem", &pem.Block{Type: "CERTIFICATE", Bytes: []byte("xx")}), filepath.Join(dir, "pkcs1.pem"), "client certificate"},
		{"EC key", certFile, writePEM(t, dir, "ec.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "needs RSA"},
		{"another certificate's key", certFile, writePEM(t, dir, "other.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(otherKey)}), "does not belong to certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotCert, gotKey, err := signaling.LoadCertificate(tt.certFile, tt.keyFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !gotCert.Equal(cert) || !key.PublicKey.Equal(gotKey.Public()) {
				t.Fatal("loaded another certificate or key")
			}
		})
	}
}
