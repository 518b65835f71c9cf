package mediabot

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// The operations surface: what an operator's own network reaches, never
// Graph's. Like chi's middleware on chi, it is built on the bot's exported
// API only (Calls, Call, Hangup, Join, Status, Ready) and the metrics.

// OpsHandler serves the operations surface: /healthz, /readyz, /metrics,
// the status page (/status, /status.json) and the operator API
// (/v1/calls...). Serve it on a listener of your own network only: it
// shows participants' names and places calls. The README's "HTTP routes"
// section is its contract.
func (b *Bot) OpsHandler() http.Handler {
	r := chi.NewRouter()
	b.probes(r)
	r.Method(http.MethodGet, "/metrics", b.metrics.Handler())
	r.Get("/status", serveStatusPage)
	r.Get("/status.json", b.serveStatusJSON)
	r.Route("/v1/calls", b.operatorRoutes)
	return r
}

// probes serves /healthz and /readyz, on both handlers: load balancers
// probe the public listener, monitoring the operations one.
func (b *Bot) probes(r chi.Router) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := b.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

// Ready reports why the bot would not take a new call now (draining,
// overloaded), or nil: what /readyz answers.
func (b *Bot) Ready() error {
	if b.draining.Load() {
		return errors.New("draining")
	}
	if st := b.admission(); st.Level == LoadOverloaded {
		return errors.New("overloaded: " + st.Reason)
	}
	return nil
}
