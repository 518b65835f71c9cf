package mediabot

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mediabot-dev/mediabot/internal/ops"
)

// OpsHandler serves the operations surface: /healthz, /readyz, /metrics,
// the status page (/status, /status.json) and the operator API
// (/v1/calls...). Serve it on a listener of your own network only: it
// shows participants' names and places calls. The README's "HTTP routes"
// section is its contract.
func (b *Bot) OpsHandler() http.Handler {
	return ops.Handler[CallInfo, JoinRequest, Status](b, ops.Config[CallInfo]{
		Metrics: b.metrics.Handler(), AdminToken: b.adminToken,
		ID: func(c CallInfo) string { return c.ID }, Refusal: refusal,
	})
}

// refusal is how the operator API answers the bot's own errors.
func refusal(err error) (status int, code, message string) {
	switch {
	case errors.Is(err, ErrBadJoinRequest):
		return http.StatusBadRequest, "badRequest", strings.TrimPrefix(err.Error(), ErrBadJoinRequest.Error()+": ")
	case errors.Is(err, ErrNotPlacing):
		return http.StatusServiceUnavailable, "unavailable", err.Error()
	case errors.Is(err, ErrNoReplyFromGraph):
		return http.StatusGatewayTimeout, "noReplyFromGraph", err.Error()
	case errors.Is(err, ErrNoToken):
		return http.StatusBadGateway, "noToken", strings.TrimPrefix(err.Error(), "mediabot: ")
	case errors.Is(err, ErrUnknownCall):
		return http.StatusNotFound, "notFound", err.Error()
	}
	return http.StatusInternalServerError, "internal", err.Error()
}

// Ready reports why the bot should be sent no new calls now (draining,
// overloaded), or nil: what /readyz answers. It follows the load state
// (mediabot_load_state, the load.state events and the log), with the same
// hold against flapping; each new call is also admitted by its projected
// cost, which Ready does not anticipate.
func (b *Bot) Ready() error {
	if b.draining.Load() {
		return errors.New("draining")
	}
	if st := b.currentLoad(); st.Level == LoadOverloaded {
		return errors.New("overloaded: " + st.Reason)
	}
	return nil
}
