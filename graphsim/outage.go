package graphsim

import (
	"net/http"
	"sync"
)

// Endpoint is one of the identity endpoints graphsim serves beside Graph,
// which tests can take down (SetOutage).
type Endpoint int

const (
	// TokenEndpoint is the client-credentials token endpoint (TokenURL).
	TokenEndpoint Endpoint = iota
	// KeysEndpoint is where notification signing keys are published: the
	// JWKS (JWKSURL) and the OpenID configuration naming it (OpenIDURL).
	KeysEndpoint
)

// Outage is how a down endpoint treats requests.
type Outage int

const (
	// Up serves requests normally.
	Up Outage = iota
	// Unreachable drops each request's connection without an answer, as
	// a reset or a load balancer with nothing behind it does.
	Unreachable
	// Hanging accepts requests and never answers them, as a stalled
	// server or a black-holed route does: the client waits until it
	// gives up. When the endpoint changes, the requests still waiting
	// are served as it now says.
	Hanging
)

// outages is the state of each endpoint; the zero value is all up.
type outages struct {
	mu    sync.Mutex
	state map[Endpoint]Outage
	// back closes when a hanging endpoint comes back up.
	back map[Endpoint]chan struct{}
}

// SetOutage takes endpoint e down as o says, or brings it back with Up.
func (s *Sim) SetOutage(e Endpoint, o Outage) {
	s.outages.mu.Lock()
	defer s.outages.mu.Unlock()
	if s.outages.state == nil {
		s.outages.state, s.outages.back = map[Endpoint]Outage{}, map[Endpoint]chan struct{}{}
	}
	if s.outages.state[e] == Hanging && o != Hanging {
		close(s.outages.back[e])
	}
	if o == Hanging && s.outages.state[e] != Hanging {
		s.outages.back[e] = make(chan struct{})
	}
	s.outages.state[e] = o
}

// current is e's outage, and the channel that closes when a hanging e
// comes back.
func (o *outages) current(e Endpoint) (Outage, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state[e], o.back[e]
}

// down serves e's requests as its outage says, and passes them on to next
// while it is up.
func (s *Sim) down(e Endpoint, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for {
			o, back := s.outages.current(e)
			switch o {
			case Up:
				next(w, r)
				return
			case Unreachable:
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
					return
				}
				panic(http.ErrAbortHandler) // closes the connection as well
			}
			select {
			case <-back: // no longer hanging: served as the endpoint is now
			case <-r.Context().Done():
				return
			case <-s.ctx.Done():
				return
			}
		}
	}
}
