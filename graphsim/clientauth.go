package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mediabot-dev/mediabot/signaling"
)

// assertionLeeway is the clock skew allowed on a client assertion's nbf.
const assertionLeeway = time.Minute

// authenticateClient checks a token request's client credential: the
// client secret, or a client assertion when the app has a certificate. It
// returns the OAuth error code and description of a refusal, or "" when
// the client is who it says.
func (s *Sim) authenticateClient(r *http.Request) (code, desc string) {
	form := r.PostForm
	assertion := form.Has("client_assertion_type") || form.Has("client_assertion")
	switch {
	case form.Get("client_id") != s.cfg.ClientID:
		return "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", form.Get("client_id"))
	case assertion && form.Has("client_secret"):
		return "invalid_request", "Send either client_secret or client_assertion, not both."
	case assertion:
		if err := s.checkClientAssertion(r); err != nil {
			return "invalid_client", err.Error()
		}
		return "", ""
	case s.cfg.ClientSecret == "" || form.Get("client_secret") != s.cfg.ClientSecret:
		return "invalid_client", "AADSTS7000215: Invalid client secret provided."
	}
	return "", ""
}

// checkClientAssertion verifies a token request's certificate credential
// as Entra ID does: an RS256 JWT signed by the registered certificate's
// key, naming it by x5t, issued by and for the client, addressed to the
// endpoint it was posted to and not expired. The error is the
// error_description of an invalid_client answer.
func (s *Sim) checkClientAssertion(r *http.Request) error {
	cert := s.cfg.ClientCertificate
	if cert == nil {
		return fmt.Errorf("AADSTS700027: No certificate credential is registered on application '%s'.", s.cfg.ClientID)
	}
	if t := r.PostForm.Get("client_assertion_type"); t != signaling.ClientAssertionType {
		return fmt.Errorf("AADSTS50027: client_assertion_type %q is not supported; want %s.", t, signaling.ClientAssertionType)
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("AADSTS50027: JWT token is invalid or malformed: %v.", err)
	}
	x5t, _ := signaling.CertificateThumbprints(cert)
	if got, _ := tok.Headers[0].ExtraHeaders["x5t"].(string); got != x5t {
		return fmt.Errorf("AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", got)
	}
	var claims jwt.Claims
	if err := tok.Claims(cert.PublicKey, &claims); err != nil {
		return fmt.Errorf("AADSTS700027: Client assertion contains an invalid signature. [Reason - %v., Thumbprint of key used by client: '%s']", err, x5t)
	}
	return s.checkAssertionClaims(r, claims)
}

// checkAssertionClaims checks the verified claims of a client assertion.
func (s *Sim) checkAssertionClaims(r *http.Request, claims jwt.Claims) error {
	clientID := r.PostForm.Get("client_id")
	if claims.Issuer != clientID || claims.Subject != clientID {
		return fmt.Errorf("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter (iss %q, sub %q, client_id %q).", claims.Issuer, claims.Subject, clientID)
	}
	want := s.URL() + r.URL.Path
	if !audienceIs(claims.Audience, want) {
		return fmt.Errorf("AADSTS700023: Client assertion audience claim does not match Realm issuer: aud %q, want %q.", []string(claims.Audience), want)
	}
	now := time.Now()
	if claims.Expiry == nil || !now.Before(claims.Expiry.Time()) {
		return fmt.Errorf("AADSTS700024: Client assertion is not within its valid time range: it has expired or has no exp.")
	}
	if claims.NotBefore != nil && now.Add(assertionLeeway).Before(claims.NotBefore.Time()) {
		return fmt.Errorf("AADSTS700024: Client assertion is not within its valid time range: nbf is in the future.")
	}
	return nil
}

// audienceIs reports whether aud names endpoint, with or without a query.
func audienceIs(aud jwt.Audience, endpoint string) bool {
	for _, a := range aud {
		u, err := url.Parse(a)
		if err != nil {
			continue
		}
		u.RawQuery, u.ForceQuery = "", false
		if u.String() == endpoint {
			return true
		}
	}
	return false
}
