package signaling

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// MaxNotificationBytes bounds a callback body (413 above: the README's "HTTP routes").
const MaxNotificationBytes = 1 << 20

// NotificationHandler takes an authenticated batch of notifications. It is
// called before the webhook answers 202, in the order requests arrive, so it
// must only queue the work (never block on Graph or media).
type NotificationHandler func(claims Claims, batch *CommsNotifications)

// WebhookConfig configures the callback endpoint.
type WebhookConfig struct {
	// Auth validates Graph's bearer token; nil accepts unsigned requests
	// (only ever configured on loopback listeners).
	Auth *Authenticator
	// Handle receives every accepted batch.
	Handle NotificationHandler
	// Respond, when set, may answer a batch in the response body itself
	// (policy recording's participantJoiningResponse): a non-nil body is
	// sent as JSON with 200 after Handle has queued the batch.
	Respond func(batch *CommsNotifications) any
	// Redirect, when set, may hand a batch to another deployment: a
	// non-empty URL is answered 307 with that Location (Graph then offers
	// the incoming call there) and the batch is not handled here.
	Redirect func(batch *CommsNotifications) string
	// Refused, when set, counts each request refused, by reason:
	// unauthorized, keys_unavailable, bad_request, too_large.
	Refused func(reason string)
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

// NewWebhook returns the handler for POST /api/calls (and the per-call
// callbackUri paths): authenticate before reading the body, bound the body,
// decode it, queue it with Handle and answer 202 at once: the work itself is
// asynchronous, and the order of arrival is kept.
// Replies carry Connection: close so a load balancer spreads new calls.
func NewWebhook(cfg WebhookConfig) http.Handler {
	if cfg.Handle == nil {
		panic("signaling: NewWebhook needs a Handle function")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	refused := cfg.Refused
	if refused == nil {
		refused = func(string) {}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		var claims Claims
		if cfg.Auth != nil {
			c, err := cfg.Auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
			if errors.Is(err, ErrKeysUnavailable) {
				// Our side cannot check tokens: Graph retries a 503; the
				// detail (addresses, resolvers) is for our log only.
				log.Error("notification not checked: the signing keys cannot be fetched", "err", err)
				refused("keys_unavailable")
				w.Header().Set("Retry-After", "10")
				writeJSONError(w, http.StatusServiceUnavailable, errors.New("signing keys unavailable: try again later"))
				return
			}
			if err != nil {
				log.Warn("notification refused", "err", err, "remote", r.RemoteAddr)
				refused("unauthorized")
				writeJSONError(w, http.StatusUnauthorized, err)
				return
			}
			claims = c
		}
		batch, status, err := readNotifications(w, r)
		if err != nil {
			log.Warn("notification refused", "status", status, "err", err, "remote", r.RemoteAddr)
			if status == http.StatusRequestEntityTooLarge {
				refused("too_large")
			} else {
				refused("bad_request")
			}
			writeJSONError(w, status, err)
			return
		}
		if cfg.Redirect != nil {
			if loc := cfg.Redirect(batch); loc != "" {
				log.Info("notification handed off", "location", loc)
				w.Header().Set("Location", loc)
				w.WriteHeader(http.StatusTemporaryRedirect)
				return
			}
		}
		cfg.Handle(claims, batch)
		if cfg.Respond != nil {
			if body := cfg.Respond(batch); body != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_ = json.NewEncoder(w).Encode(body)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// readNotifications decodes a commsNotifications body, returning the HTTP
// status to answer when it cannot.
func readNotifications(w http.ResponseWriter, r *http.Request) (*CommsNotifications, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return nil, http.StatusBadRequest, errors.New("signaling: content type is not JSON: " + ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxNotificationBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, errors.New("signaling: notification body over 1 MiB")
		}
		return nil, http.StatusBadRequest, err
	}
	var batch CommsNotifications
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, http.StatusBadRequest, errors.Join(ErrBadNotification, err)
	}
	if batch.Value == nil || (batch.ODataType != "" && batch.ODataType != ODataCommsNotifications) {
		return nil, http.StatusBadRequest, errors.Join(ErrBadNotification, errors.New("not a commsNotifications body"))
	}
	return &batch, 0, nil
}

func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": strings.ReplaceAll(err.Error(), "\n", ": ")})
}
