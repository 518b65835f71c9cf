package graphsim

import (
	"net/http"
	"strings"
	"time"
)

// The request log: every request graphsim's Graph and identity endpoints
// received, as its front door saw it, so that tests can count what the bot
// sent (a request that must not be sent twice) and time its retries.

// maxLoggedRequests bounds the log of a long-running graphsim: the oldest
// requests are forgotten first.
const maxLoggedRequests = 10000

// Request is one HTTP request graphsim received.
type Request struct {
	Method, Path string
	// ClientRequestID is the client-request-id header: all the attempts of
	// one logical request to Graph carry the same.
	ClientRequestID string
	// At is when the request arrived; Status is what graphsim answered
	// (0: no answer, the connection was dropped or the client gave up).
	At     time.Time
	Status int
}

// Requests lists the requests received whose method is method and whose
// URL path ends with pathSuffix, oldest first.
func (s *Sim) Requests(method, pathSuffix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			out = append(out, *r)
		}
	}
	return out
}

// logRequests records each request and, once answered, its status.
func (s *Sim) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &Request{Method: r.Method, Path: r.URL.Path, ClientRequestID: r.Header.Get("client-request-id"), At: time.Now()}
		s.mu.Lock()
		if len(s.requests) == maxLoggedRequests {
			s.requests = append(s.requests[:0], s.requests[1:]...)
		}
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.mu.Lock()
		rec.Status = sw.status
		s.mu.Unlock()
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (an outage
// drops it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
