package signaling

import (
	"context"
	"encoding/json"
	"net/http"
)

type claimsKey struct{}

// Middleware rejects requests whose Authorization header does not pass
// Authenticate with 401 and a one-line JSON body {"error":"..."}, without
// calling next. Accepted requests reach next with the Claims in their
// context (see ClaimsFromContext).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := a.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(struct {
				Error string `json:"error"`
			}{err.Error()})
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), claims)))
	})
}

// ContextWithClaims returns ctx carrying c. Middleware uses it; tests of
// handlers behind the middleware can use it to skip token signing.
func ContextWithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the Claims Middleware stored, and false when the
// request did not pass through it.
func ClaimsFromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
