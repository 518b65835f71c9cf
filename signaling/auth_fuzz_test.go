package signaling

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The fuzz targets sign with fixed keys, so that the tokens in their seeds
// and kept corpus (testdata/fuzz) stay validly signed from run to run. They
// are test keys: nothing trusts them.
//
// fuzzHeaderKey (kid "k1") signs the seeds of FuzzAuthenticate;
// fuzzClaimsKey (kid "c1", 1024 bits: the least crypto/rsa signs with, so
// that signing every input stays cheap) signs the claims of
// FuzzAuthenticateClaims.
const (
	fuzzHeaderKeyPEM = `-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAvu3y+p+0a896GmUCPKDy+4jDNWgWA5qnDjNpjIKM4Ax+BSmY
JMfAqU1jYBDb4at8acZmjzwIKxRlmoxEl9H2B/k7eoqKLlFe8mKP+HmlwCWrGRSQ
MIQ60KTgFQmaDltmQGFHydbcrHRQuT1/j+22SrEDvV8SyrEKKCnVDSp3/JXjH8nA
rys6z8SaiN7FrDp0Oc+UW07rIe3IKtzwDV4C6Qhu67ii0MpQ1Fiphzy9ZkrmVzQW
b5+M/tE1eHPoOdADYYzm8c66vxjuvBZ+DRENakyVu6sFm9+4Q7CmtslAnOTthjld
ySQY6dssP3nqKQKhCIp3RBreH5vevppnrZwtgwIDAQABAoIBADG5zkEIzBgSCraK
HRmGP5JULacgqy8YHa8co741GBSYHFAi452cqqhNX/banTG6lGYGBpsCYww5PTcR
liHGTKIJ/rwtDcz/Y0+UbPOlVw5ioRugl+cS4TCK6FOCUy2vD0PwMh62x3Vgu89q
3WiyW/o6/QLamo3QqxkHwBW0PFi7i3mooFWrQxW60h/mLZVhdrTTK0Zb44vzdBiW
m4Sm+MZ1TR2M/aEZfTzm7EV0kC+nlYiw470dxK8+6mHqRKRm7pVulEb/0wiLJwrK
ZaeUzPtOj/OUghElvxbIhV5E/tzIAWHQGFdLnW8vHpi1UdOGT0PkQhJ2MLF3koZa
ej0KoZECgYEA6gDCGIbWkBI2YkVJEyGkU7B4qV0kzb/HfdDEmjHKK1waPYRn1Cpq
JGjGlbDq2jxOSra6CP/nNqHxD0kSeNN70IC5IEb8TvKQHnDxOShxaXcCZxfJadsj
aK/d3Sno1PVqDRcOLXajntmfqNrOfjGvf5zLnKFY+3h7lYfcz5xksZECgYEA0OCi
lTPgxzFI1uQjUenRaCwFe5HC3gZtSsdc3nG0O2sXyjeFjcm7i8/D0xVeOpnyF1oZ
FNpfngwhWGE14u/wITRlVQ+QikkA1kOFEngDcFMELksGIJVyDsqcYN1cK5Web3gX
1L5mo33x47NSinALcutKnfizonMq71ojAwFnI9MCgYAbrrVHg4QUjSMD4yBu8/bl
s6XCm3NEJ+DowG7RsvwwvveXuXczAUWHQyHjCYfvA11bt1wwvl1S+Dt1THaz9oja
NLAx4lPs3wMvprrSwTcRe/O70HOSY0tAEjYT+OZDczj1jXmu5S8cFrCtoBz3jtct
KJZp1Cibrzgni2gS43SCEQKBgQDAO+0FefBGApKxytbCvXkO8Wy+U+DO64VMS/yp
cGXaRW5omf6dBmtHehgUPVcygZnvaekpauyTDUDnENhCGmaaeJlF1oRE8HkHuK5Q
2Aj6KDzxyfRCqqeE+20+LJt2NUXR+umbzvuxPekPkWrGo+W1htxuVIQmXu3FyOPu
ES12JwKBgQCERxqu55XDS6SiH5IPwPe1VvDCwJ+9FZwaBq5LkLBo/SUsoTgHtIer
TIv3UileMmD483GUy8yiUJx1CwdrFD1s5EhWzjeCXnREncosUuSmfYZgTioyadmY
hXm8lpwDKNUzBeabmFlJLhr68bGCDZo9fPzwiosaSg56ZWQCXEIiWg==
-----END RSA PRIVATE KEY-----`
	fuzzClaimsKeyPEM = `-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDGaN/vnpM0GkUs/RRjRcvCS8aYzXtFlZPipiikF+l+dm3osvNA
2WWitxXtOvlOVsM5f/CdI0FBU7PuP4PBOScDnmF6BGafdkOO9Br+Wm9/GIOZC+Xu
+1KakI5zD8Z/WKy9c8fBSQ65g7FxWI4tAuXbTV12CtnfWH7HHuHUf+9gAQIDAQAB
AoGAZ+VXDlUNZEU1YB+OY4WS80VW04EWQhPXguHbekIDRPOjDi1W7+hnLlONKdKt
5fXM+Pkj+EUT0K+SEvozdiUFZhWp10lN38//QWHErnvFgeffOKB6C+qkMFI9gMSO
hr9YeYIbuPfbdQTjl9vE6/NSuVHJ3xbQ77h7eXO97D9FkDkCQQDizhuZvCuVjv91
LHapWPeCNOkI/gSg3ZmCM9r+Sqbo/7BVDn2k16CEnzlb+2hI6PQlWGQGv6blGMfv
aiColzZfAkEA3/MN1D2ux7FQEPnli6umeYUI5xdiu182/G/n+bzPKEsCoJ3hGkxW
DvSkojOOQR8q8huIQtpNYwm4tmrMIsNFnwJACVOecPD6/dh2itP8QTSGYRVZ6+O+
Pvs938vQGprpSDWTg7vn0MqJMEr36d9px23E9HAxFNH2w/8D4cWEeEpXkwJBALQy
QRVfEIyTysXuHdqVol0zQ2eWtJXp1jem37ReTR2xxYpxntfnRnPAO9xbuYICzy6C
ItEQEKa5AsydAGaUUycCQA/unGcPcD+sMtZ87QkfKzoROpMkqPmsHbR9Nt7B4FM0
bj2QRUCvCG/PrtyrGXIRj1yQ3MPBVCKQWM7EkGcqiL4=
-----END RSA PRIVATE KEY-----`
)

// fuzzNow is the fuzzed Authenticator's clock: a whole second.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fuzzKey(tb testing.TB, pemText string) *rsa.PrivateKey {
	tb.Helper()
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		tb.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fuzzAuth is an Authenticator whose key set, served by httptest on
// loopback, holds the two fuzz keys, fetched once before fuzzing: the clock
// never moves, so no input makes it fetch again (an unknown kid waits for
// MinRefreshInterval) and any ErrKeysUnavailable is a failure.
type fuzzAuth struct {
	a    *Authenticator
	keys map[string]*rsa.PrivateKey
}

func newFuzzAuth(f *testing.F) *fuzzAuth {
	fa := &fuzzAuth{keys: map[string]*rsa.PrivateKey{
		"k1": fuzzKey(f, fuzzHeaderKeyPEM),
		"c1": fuzzKey(f, fuzzClaimsKeyPEM),
	}}
	var set jose.JSONWebKeySet
	for kid, k := range fa.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(doc)
	}))
	f.Cleanup(srv.Close)
	fa.a, err = NewAuthenticator(AuthConfig{
		JWKSURL:  srv.URL + "/keys",
		Issuers:  GraphIssuers(),
		Audience: testAppID,
		Now:      func() time.Time { return fuzzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	for kid := range fa.keys {
		if _, err := fa.a.Authenticate(context.Background(), "Bearer "+fa.sign(f, kid, fuzzValidClaims())); err != nil {
			f.Fatalf("a valid token signed by %s: %v", kid, err)
		}
	}
	return fa
}

// sign makes a compact RS256 JWS of payload, header {"alg","kid","typ"}.
func (fa *fuzzAuth) sign(tb testing.TB, kid string, payload []byte) string {
	tb.Helper()
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}`))
	input := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, fa.keys[kid], crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// fuzzValidClaims are Graph's claims, valid at fuzzNow for an hour.
func fuzzValidClaims() []byte {
	return fuzzClaims(func(c map[string]any) {})
}

func fuzzClaims(edit func(map[string]any)) []byte {
	now := fuzzNow.Unix()
	c := map[string]any{
		"iss": testIssuer, "aud": testAppID, "sub": "graph", "tid": testTenant,
		"iat": now, "nbf": now - 60, "exp": now + 3600,
	}
	edit(c)
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzClaimSeeds are payloads that reach each claim check, and a few that
// stop before.
func fuzzClaimSeeds() [][]byte {
	now := fuzzNow.Unix()
	seeds := [][]byte{fuzzValidClaims()}
	for _, edit := range []func(map[string]any){
		func(c map[string]any) { c["iss"] = "https://graph.microsoft.com" },
		func(c map[string]any) { c["iss"] = "https://evil.example" },
		func(c map[string]any) { delete(c, "iss") },
		func(c map[string]any) { c["aud"] = []string{"other", testAppID} },
		func(c map[string]any) { c["aud"] = []string{"other"} },
		func(c map[string]any) { c["aud"] = []any{testAppID, 7} },
		func(c map[string]any) { delete(c, "aud") },
		func(c map[string]any) { c["exp"] = now - 121 },
		func(c map[string]any) { c["exp"] = now - 120 },
		func(c map[string]any) { c["exp"] = 1e300 },
		func(c map[string]any) { c["exp"] = "soon" },
		func(c map[string]any) { delete(c, "exp") },
		func(c map[string]any) { c["nbf"] = now + 120 },
		func(c map[string]any) { c["nbf"] = now + 121 },
		func(c map[string]any) { c["nbf"] = 4611686018427387904.0 },
		func(c map[string]any) { delete(c, "nbf") },
		func(c map[string]any) { delete(c, "tid") },
		func(c map[string]any) { c["tid"] = "" },
		func(c map[string]any) { c["tid"] = 1 },
		func(c map[string]any) { c["ISS"] = "https://evil.example" },
		func(c map[string]any) { c["sub"] = nil },
	} {
		seeds = append(seeds, fuzzClaims(edit))
	}
	return append(seeds, []byte(`{"iss":"`+testIssuer+`","iss":"x","aud":"`+testAppID+`","exp":9999999999,"tid":"t"}`),
		[]byte("null"), []byte("[]"), []byte(""), []byte("{"))
}

// FuzzAuthenticate feeds Authenticate arbitrary Authorization header
// values. Seeded with tokens validly signed by a key of the served set, some
// with claims each check refuses, so that mutations of well-formed tokens
// reach the claim checks. A refusal must be a one-line ErrUnauthorized,
// never ErrKeysUnavailable; an acceptance must be a compact RS256 JWS whose
// signature a plain PKCS #1 v1.5 check finds valid under the kid's key and
// whose claims pass checkFuzzAccepted.
func FuzzAuthenticate(f *testing.F) {
	fa := newFuzzAuth(f)
	for _, c := range fuzzClaimSeeds() {
		f.Add("Bearer " + fa.sign(f, "k1", c))
	}
	valid := fa.sign(f, "k1", fuzzValidClaims())
	head, rest, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer   ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer ..", "Bearer a.b.c.d",
		"bearer " + valid, "BEARER\t" + valid, "  Bearer   " + valid + "  ", "Bearer " + valid + " trailing",
		"Bearer " + valid + "=", "Bearer " + head + "=." + payload + "." + sig, "Bearer " + head + "." + payload + ".",
		"Bearer " + head + "." + payload + "." + sig[:len(sig)-2], "Bearer " + valid + "." + valid,
		"Bearer " + b64(`{"alg":"none","kid":"k1"}`) + "." + payload + ".",
		"Bearer " + b64(`{"alg":"HS256","kid":"k1"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","kid":"nope"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","kid":"c1"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","kid":"k1","crit":["exp"]}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","kid":"k1","jwk":{}}`) + "." + payload + "." + sig,
		`Bearer {"payload":"` + payload + `","protected":"` + head + `","signature":"` + sig + `"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authorization string) {
		got, err := fa.a.Authenticate(context.Background(), authorization)
		if err != nil {
			checkFuzzRefusal(t, got, err)
			return
		}
		fa.checkFuzzAccepted(t, authorization, got)
	})
}

// FuzzAuthenticateClaims signs each input as the payload of an RS256 token
// under a key of the served set and authenticates it, so that every input
// reaches the claim checks. An acceptance must pass checkFuzzAccepted; an
// input that checkFuzzModel finds clean (each claim once, well typed) must
// be accepted exactly when its claims are good.
func FuzzAuthenticateClaims(f *testing.F) {
	fa := newFuzzAuth(f)
	for _, c := range fuzzClaimSeeds() {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		authorization := "Bearer " + fa.sign(t, "c1", payload)
		got, err := fa.a.Authenticate(context.Background(), authorization)
		if err != nil {
			checkFuzzRefusal(t, got, err)
		} else {
			fa.checkFuzzAccepted(t, authorization, got)
		}
		if clean, good := fuzzClaimsModel(payload); clean && good != (err == nil) {
			t.Fatalf("claims %s: clean, good %v, but Authenticate: %v", payload, good, err)
		}
	})
}

func checkFuzzRefusal(t *testing.T, got Claims, err error) {
	t.Helper()
	msg := err.Error()
	switch {
	case !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrKeysUnavailable):
		t.Fatalf("refusal %v is not ErrUnauthorized alone", err)
	case !strings.HasPrefix(msg, "signaling: unauthorized: ") || strings.ContainsAny(msg, "\r\n"):
		t.Fatalf("refusal %q is not one line saying why", msg)
	case got != (Claims{}):
		t.Fatalf("refusal %v with claims %+v", err, got)
	}
}

// checkFuzzAccepted checks an accepted Authorization value from scratch:
// a Bearer compact JWS, RS256 and a kid of the set in its header, a valid
// PKCS #1 v1.5 SHA-256 signature under that kid's key, and claims that
// pass every check, the ones returned among them.
func (fa *fuzzAuth) checkFuzzAccepted(t *testing.T, authorization string, got Claims) {
	t.Helper()
	scheme, tok, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") {
		t.Fatalf("accepted %q: not a Bearer token", authorization)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %q: %d parts, not a compact JWS", tok, len(parts))
	}
	// go-jose decodes the parts leniently (CR and LF skipped, stray bits
	// after the last byte ignored) and verifies the signature over the
	// canonical encoding of what they decode to, so the same token has
	// other spellings: what must hold is that the key signed the header and
	// claims they decode to.
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("accepted %q: part %d is not base64url: %v", tok, i, err)
		}
		raw[i] = b
	}
	// go-jose matches names exactly (encoding/json would not): maps.
	var header map[string]json.RawMessage
	var alg, kid string
	if err := json.Unmarshal(raw[0], &header); err != nil || json.Unmarshal(header["alg"], &alg) != nil || alg != "RS256" {
		t.Fatalf("accepted a token whose header %s is not RS256 (%v)", raw[0], err)
	}
	_ = json.Unmarshal(header["kid"], &kid)
	key, ok := fa.keys[kid]
	if !ok {
		t.Fatalf("accepted a token whose kid %q is not in the set", kid)
	}
	signed := base64.RawURLEncoding.EncodeToString(raw[0]) + "." + base64.RawURLEncoding.EncodeToString(raw[1])
	sum := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], raw[2]); err != nil {
		t.Fatalf("accepted a token whose signature does not verify: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw[1], &claims); err != nil {
		t.Fatalf("accepted claims %s that do not decode: %v", raw[1], err)
	}
	var c struct {
		Iss, Sub, Tid string
		Aud           json.RawMessage
		Exp, Nbf      *float64
	}
	for name, v := range map[string]any{"iss": &c.Iss, "sub": &c.Sub, "tid": &c.Tid, "exp": &c.Exp, "nbf": &c.Nbf} {
		if b, ok := claims[name]; ok {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("accepted claims %s: %s does not decode: %v", raw[1], name, err)
			}
		}
	}
	c.Aud = claims["aud"]
	now := float64(fuzzNow.Unix())
	skew := DefaultClockSkew.Seconds()
	switch {
	case c.Iss != "https://graph.microsoft.com" && c.Iss != "https://api.botframework.com":
		t.Fatalf("accepted issuer %q", c.Iss)
	case !fuzzAudienceHas(c.Aud, testAppID):
		t.Fatalf("accepted audience %s", c.Aud)
	case c.Exp == nil || now > math.Trunc(*c.Exp)+skew:
		t.Fatalf("accepted claims %s: no exp, or expired at %v", raw[1], fuzzNow)
	case c.Nbf != nil && now+skew < math.Trunc(*c.Nbf):
		t.Fatalf("accepted claims %s: not valid yet at %v", raw[1], fuzzNow)
	case c.Tid == "":
		t.Fatalf("accepted claims %s without tid", raw[1])
	}
	want := Claims{Issuer: c.Iss, Audience: testAppID, TenantID: c.Tid, Subject: c.Sub, Expiry: time.Unix(int64(*c.Exp), 0)}
	if !got.Expiry.Equal(want.Expiry) {
		t.Fatalf("accepted with expiry %v, the token says %v", got.Expiry, want.Expiry)
	}
	got.Expiry = want.Expiry
	if got != want {
		t.Fatalf("accepted with claims %+v, the token says %+v", got, want)
	}
}

func fuzzAudienceHas(raw json.RawMessage, aud string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == aud
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return false
	}
	for _, a := range list {
		if a == aud {
			return true
		}
	}
	return false
}

// fuzzClaimsModel is the reference for payloads it understands: a JSON
// object whose names are each there once, all among iss, aud, sub, exp,
// nbf, iat, jti and tid, with the types RFC 7519 gives them (numbers for
// the dates, within go-jose's ±2^62 s). For those (clean) it reports
// whether the claims are good: iss one of GraphIssuers, aud testAppID or a
// list holding it, exp no more than the skew ago, nbf (if any) no more than
// the skew ahead, tid not empty.
func fuzzClaimsModel(payload []byte) (clean, good bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, false
	}
	claims := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, false
		}
		name := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return false, false
		}
		if _, dup := claims[name]; dup {
			return false, false
		}
		claims[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return false, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, false
	}
	dates := map[string]int64{}
	good = true
	for name, v := range claims {
		switch name {
		case "iss", "sub", "jti", "tid":
			s, ok := v.(string)
			if !ok {
				return false, false
			}
			if name == "iss" {
				good = good && (s == "https://graph.microsoft.com" || s == "https://api.botframework.com")
			}
			if name == "tid" {
				good = good && s != ""
			}
		case "aud":
			switch a := v.(type) {
			case string:
				good = good && a == testAppID
			case []any:
				has := false
				for _, e := range a {
					s, ok := e.(string)
					if !ok {
						return false, false
					}
					has = has || s == testAppID
				}
				good = good && has
			default:
				return false, false
			}
		case "exp", "nbf", "iat":
			n, ok := v.(json.Number)
			if !ok {
				return false, false
			}
			x, err := n.Float64()
			if err != nil || math.Abs(x) >= 1<<62 {
				return false, false
			}
			dates[name] = int64(x)
		default:
			return false, false
		}
	}
	now, skew := fuzzNow.Unix(), int64(DefaultClockSkew/time.Second)
	_, hasIss := claims["iss"]
	_, hasAud := claims["aud"]
	_, hasTid := claims["tid"]
	exp, hasExp := dates["exp"]
	good = good && hasIss && hasAud && hasTid && hasExp && now <= exp+skew
	if nbf, ok := dates["nbf"]; ok {
		good = good && nbf <= now+skew
	}
	return true, good
}
