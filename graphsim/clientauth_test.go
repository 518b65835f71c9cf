package graphsim

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mediabot-dev/mediabot/internal/testcert"
	"github.com/mediabot-dev/mediabot/signaling"
)

// assertionSpec says how a test assertion differs from a valid one.
type assertionSpec struct {
	key      *rsa.PrivateKey
	x5t      string
	iss, sub string
	aud      string
	exp      time.Duration // from now
}

func signAssertion(t *testing.T, a assertionSpec) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: a.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", a.x5t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: a.iss, Subject: a.sub, Audience: jwt.Audience{a.aud},
		ID: randomID(8), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(a.exp))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenEndpointChecksClientAssertions(t *testing.T) {
	cert, key := testcert.App(t)
	_, otherKey := testcert.App(t)
	sim, err := Start(Config{TenantID: "tenant-1", ClientID: "app", ClientSecret: "secret", ClientCertificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	x5t, _ := signaling.CertificateThumbprints(cert)
	valid := assertionSpec{key: key, x5t: x5t, iss: "app", sub: "app", aud: sim.TokenURL(), exp: 10 * time.Minute}
	with := func(change func(*assertionSpec)) assertionSpec { a := valid; change(&a); return a }

	tests := []struct {
		name      string
		assertion assertionSpec
		extra     url.Values // added to the form
		wantError string     // "" = a token
		wantDesc  string
	}{
		{name: "valid assertion", assertion: valid},
		{name: "audience with a query", assertion: with(func(a *assertionSpec) { a.aud += "?api-version=2.0" })},
		{name: "signed by another key", assertion: with(func(a *assertionSpec) { a.key = otherKey }),
			wantError: "invalid_client", wantDesc: "AADSTS700027: Client assertion contains an invalid signature"},
		{name: "another thumbprint", assertion: with(func(a *assertionSpec) { a.x5t = "AAAA" }),
			wantError: "invalid_client", wantDesc: "AADSTS700027: The certificate with identifier"},
		{name: "issuer is not the client", assertion: with(func(a *assertionSpec) { a.iss = "other" }),
			wantError: "invalid_client", wantDesc: "AADSTS700021"},
		{name: "subject is not the client", assertion: with(func(a *assertionSpec) { a.sub = "other" }),
			wantError: "invalid_client", wantDesc: "AADSTS700021"},
		{name: "audience is another endpoint", assertion: with(func(a *assertionSpec) { a.aud = "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token" }),
			wantError: "invalid_client", wantDesc: "AADSTS700023"},
		{name: "expired", assertion: with(func(a *assertionSpec) { a.exp = -time.Second }),
			wantError: "invalid_client", wantDesc: "AADSTS700024"},
		{name: "secret and assertion", assertion: valid, extra: url.Values{"client_secret": {"secret"}},
			wantError: "invalid_request", wantDesc: "not both"},
		{name: "another assertion type", assertion: valid, extra: url.Values{"client_assertion_type": {"urn:saml"}},
			wantError: "invalid_client", wantDesc: "AADSTS50027"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"https://graph/.default"},
				"client_assertion_type": {signaling.ClientAssertionType}, "client_assertion": {signAssertion(t, tt.assertion)}}
			for k, v := range tt.extra {
				form[k] = v
			}
			checkTokenReply(t, sim, form, tt.wantError, tt.wantDesc)
		})
	}
	t.Run("the secret still works", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"s"}, "client_secret": {"secret"}}
		checkTokenReply(t, sim, form, "", "")
	})
}

func TestTokenEndpointWithoutCertificateRefusesAssertions(t *testing.T) {
	cert, key := testcert.App(t)
	sim, err := Start(Config{TenantID: "tenant-1", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	x5t, _ := signaling.CertificateThumbprints(cert)
	a := signAssertion(t, assertionSpec{key: key, x5t: x5t, iss: "app", sub: "app", aud: sim.TokenURL(), exp: time.Minute})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"s"},
		"client_assertion_type": {signaling.ClientAssertionType}, "client_assertion": {a}}
	checkTokenReply(t, sim, form, "invalid_client", "No certificate credential")
	// No secret is registered either: an empty one is no credential.
	checkTokenReply(t, sim, url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"s"}},
		"invalid_client", "AADSTS7000215")
}

func checkTokenReply(t *testing.T, sim *Sim, form url.Values, wantError, wantDesc string) {
	t.Helper()
	resp, err := http.PostForm(sim.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep struct {
		AccessToken      string `json:"access_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if wantError == "" {
		if resp.StatusCode != http.StatusOK || rep.AccessToken == "" {
			t.Fatalf("got %d %s: %s, want a token", resp.StatusCode, rep.Error, rep.ErrorDescription)
		}
		return
	}
	if rep.Error != wantError || !strings.Contains(rep.ErrorDescription, wantDesc) {
		t.Fatalf("got %d %q: %q, want %s saying %q", resp.StatusCode, rep.Error, rep.ErrorDescription, wantError, wantDesc)
	}
}
