// Package ops is the bot's operations surface: the health probes, the
// Prometheus metrics, the status page and its JSON, and the operator API
// that places, lists and hangs up calls. Like chi's middleware on chi, it
// is built on the bot's exported API only (the Bot interface), and is
// served on the operations listener, never on the one Graph reaches.
package ops

import (
	"context"
	"net/http"
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
)

// Bot is the part of a *mediabot.Bot the operations surface uses: its
// exported methods, its own types as the type parameters (Call for
// CallInfo, Join for JoinRequest, Status for Status).
type Bot[Call, Join, Status any] interface {
	Calls() []Call
	Call(id string) (Call, bool)
	Join(ctx context.Context, req Join) (Call, error)
	Hangup(ctx context.Context, id string) error
	Status() Status
	// Ready says why the bot would take no new call now, or nil.
	Ready() error
}

// Config is what the surface needs besides the Bot.
type Config[Call any] struct {
	// Metrics serves /metrics.
	Metrics http.Handler
	// AdminToken is the operator API's bearer token; "" serves it to
	// loopback clients of a loopback listener only.
	AdminToken string
	// ID is a call's id, for the Location of a call placed.
	ID func(Call) string
	// Refusal says how the operator API answers a Join or Hangup error
	// that is not Graph's own refusal: its status, error code and message.
	Refusal func(error) (status int, code, message string)
}

// Handler serves the surface: /healthz, /readyz, /metrics, /status,
// /status.json, /v1/calls... and /debug/pprof/...
func Handler[Call, Join, Status any](b Bot[Call, Join, Status], cfg Config[Call]) http.Handler {
	r := chi.NewRouter()
	Probes(r, b.Ready)
	r.Method(http.MethodGet, "/metrics", cfg.Metrics)
	r.Get("/status", serveStatusPage)
	r.Get("/status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, b.Status())
	})
	r.Route("/v1/calls", (&operator[Call, Join, Status]{bot: b, cfg: cfg}).routes)
	r.Mount("/debug/pprof", profiles())
	return r
}

// profiles serves Go's runtime profiles (CPU, heap, goroutines, ...), for
// an operator who wants to see where a bot's CPU goes under load.
func profiles() http.Handler {
	r := chi.NewRouter()
	r.HandleFunc("/", pprof.Index)
	r.HandleFunc("/cmdline", pprof.Cmdline)
	r.HandleFunc("/profile", pprof.Profile)
	r.HandleFunc("/symbol", pprof.Symbol)
	r.HandleFunc("/trace", pprof.Trace)
	r.HandleFunc("/{name}", func(w http.ResponseWriter, req *http.Request) {
		pprof.Handler(chi.URLParam(req, "name")).ServeHTTP(w, req)
	})
	return r
}

// Probes serves /healthz and /readyz on r: load balancers probe the public
// listener, monitoring the operations one.
func Probes(r chi.Router, ready func() error) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
