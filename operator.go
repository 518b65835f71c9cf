package mediabot

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediabot-dev/mediabot/signaling"
)

// maxJoinBody bounds a POST /v1/calls body.
const maxJoinBody = 64 << 10

// placeTimeout bounds asking Graph to place a call; it does not end with
// the operator's request, so that a call Graph is creating is not abandoned.
const placeTimeout = 30 * time.Second

// operatorRoutes serve the operator API (the README's "HTTP routes"):
// place calls, list them, hang up. Errors have Graph's shape, {"error":{"code","message"}},
// and a refusal by Graph is passed on as Graph wrote it.
func (b *Bot) operatorRoutes(r chi.Router) {
	r.Use(b.operatorAuth)
	r.Post("/", b.servePlaceCall)
	r.Get("/", b.serveListCalls)
	r.Get("/{id}", b.serveGetCall)
	r.Delete("/{id}", b.serveHangup)
}

// operatorAuth requires the admin token; without one configured, only
// loopback clients of a loopback listener are served.
func (b *Bot) operatorAuth(next http.Handler) http.Handler {
	want := []byte("Bearer " + b.adminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.adminToken == "" {
			if !loopbackListener(r) || !isLoopback(r.RemoteAddr) {
				writeOperatorError(w, http.StatusForbidden, "forbidden", "the operator API needs --admin-token unless both the listener and the client are on loopback")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mediabot"`)
			writeOperatorError(w, http.StatusUnauthorized, "unauthorized", "Authorization: Bearer <admin token> is missing or wrong")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (b *Bot) servePlaceCall(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeOperatorError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("Content-Type must be application/json, got %q", ct))
		return
	}
	var req JoinRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOperatorError(w, http.StatusRequestEntityTooLarge, "tooLarge", fmt.Sprintf("body over %d bytes", maxJoinBody))
			return
		}
		writeOperatorError(w, http.StatusBadRequest, "badRequest", "body: "+err.Error()+` (want {"joinUrl"}, {"joinMeetingId","passcode"}, {"userId"} or {"phone"}, with "tenantId")`)
		return
	}
	if dec.More() {
		writeOperatorError(w, http.StatusBadRequest, "badRequest", "body: one JSON object expected")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), placeTimeout)
	defer cancel()
	info, err := b.Join(ctx, req)
	var graphErr *signaling.APIError
	switch {
	case err == nil:
		w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+info.ID)
		writeOperatorJSON(w, http.StatusCreated, struct {
			CallID string `json:"callId"`
			CallInfo
		}{info.ID, info})
	case errors.Is(err, ErrBadJoinRequest):
		writeOperatorError(w, http.StatusBadRequest, "badRequest", strings.TrimPrefix(err.Error(), ErrBadJoinRequest.Error()+": "))
	case errors.Is(err, ErrNotPlacing):
		writeOperatorError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.As(err, &graphErr):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(graphErr.Graph) // Graph's error body, with its request ids
	case errors.Is(err, ErrNoReplyFromGraph):
		writeOperatorError(w, http.StatusGatewayTimeout, "noReplyFromGraph", err.Error())
	default:
		writeOperatorError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func (b *Bot) serveListCalls(w http.ResponseWriter, _ *http.Request) {
	calls := b.Calls()
	slices.SortFunc(calls, func(x, y CallInfo) int { return strings.Compare(x.ID, y.ID) })
	writeOperatorJSON(w, http.StatusOK, struct {
		Calls []CallInfo `json:"calls"`
	}{calls})
}

func (b *Bot) serveGetCall(w http.ResponseWriter, r *http.Request) {
	info, ok := b.Call(chi.URLParam(r, "id"))
	if !ok {
		writeOperatorError(w, http.StatusNotFound, "notFound", "no live or recently ended call with this id")
		return
	}
	writeOperatorJSON(w, http.StatusOK, info)
}

func (b *Bot) serveHangup(w http.ResponseWriter, r *http.Request) {
	if err := b.Hangup(r.Context(), chi.URLParam(r, "id")); err != nil {
		writeOperatorError(w, http.StatusNotFound, "notFound", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeOperatorJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOperatorError(w http.ResponseWriter, status int, code, msg string) {
	writeOperatorJSON(w, status, signaling.GraphError{Error: signaling.GraphErrorBody{Code: code, Message: msg}})
}

// loopbackListener reports whether r came in on a loopback address.
func loopbackListener(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && isLoopback(local.String())
}
