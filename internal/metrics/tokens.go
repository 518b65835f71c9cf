package metrics

import "github.com/prometheus/client_golang/prometheus"

// registerTokenFailures registers the counter of failed access-token
// fetches, by what the bot still held: held="valid" (a fetch ahead of the
// token's expiry failed; the token still serves, no request failed) or
// held="none" (no valid token: the Graph requests waiting for it failed).
func registerTokenFailures(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_token_fetch_failures_total",
		Help: "Access-token fetches that failed (the token endpoint refused, could not be reached or did not answer in time), by the token held: valid (it still serves, no request failed) or none (the Graph requests waiting for a token failed).",
	}, []string{"held"})
	reg.MustRegister(c)
	for _, held := range []string{"valid", "none"} {
		c.WithLabelValues(held)
	}
	return c
}

// TokenFetchFailed counts a failed access-token fetch; stillValid says the
// token held still serves.
func (m *Metrics) TokenFetchFailed(stillValid bool) {
	held := "none"
	if stillValid {
		held = "valid"
	}
	m.tokenFailures.WithLabelValues(held).Inc()
}
