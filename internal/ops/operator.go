package ops

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

	"github.com/mediabot-dev/mediabot/internal/netaddr"
	"github.com/mediabot-dev/mediabot/signaling"
)

// maxJoinBody bounds a POST /v1/calls body.
const maxJoinBody = 64 << 10

// placeTimeout bounds asking Graph to place a call; it does not end with
// the operator's request, so that a call Graph is creating is not abandoned.
const placeTimeout = 30 * time.Second

// operator is the operator API: place calls, list them, hang up. Errors
// have Graph's shape, {"error":{"code","message"}}, and a refusal by Graph
// is passed on as Graph wrote it.
type operator[Call, Join, Status any] struct {
	bot Bot[Call, Join, Status]
	cfg Config[Call]
}

func (o *operator[Call, Join, Status]) routes(r chi.Router) {
	r.Use(o.auth)
	r.Post("/", o.place)
	r.Get("/", o.list)
	r.Get("/{id}", o.get)
	r.Delete("/{id}", o.hangup)
}

// auth requires the admin token; without one configured, only loopback
// clients of a loopback listener are served.
func (o *operator[Call, Join, Status]) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + o.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.cfg.AdminToken == "" {
			if !loopbackListener(r) || !netaddr.IsLoopback(r.RemoteAddr) {
				writeError(w, http.StatusForbidden, "forbidden", "the operator API needs --admin-token unless both the listener and the client are on loopback")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mediabot"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Authorization: Bearer <admin token> is missing or wrong")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (o *operator[Call, Join, Status]) place(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf("Content-Type must be application/json, got %q", ct))
		return
	}
	var req Join
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "tooLarge", fmt.Sprintf("body over %d bytes", maxJoinBody))
			return
		}
		writeError(w, http.StatusBadRequest, "badRequest", "body: "+err.Error()+` (want {"joinUrl"}, {"joinMeetingId","passcode"}, {"userId"} or {"phone"}, with "tenantId")`)
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "badRequest", "body: one JSON object expected")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), placeTimeout)
	defer cancel()
	info, err := o.bot.Join(ctx, req)
	if err != nil {
		o.refuse(w, err)
		return
	}
	id := o.cfg.ID(info)
	body, err := withCallID(info, id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+id)
	writeJSON(w, http.StatusCreated, body)
}

// withCallID is info's JSON object with "callId" added.
func withCallID(info any, id string) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["callId"], _ = json.Marshal(id)
	return obj, nil
}

// refuse answers an error of Join or Hangup: Graph's refusal as Graph
// wrote it, the bot's own as Config.Refusal says.
func (o *operator[Call, Join, Status]) refuse(w http.ResponseWriter, err error) {
	var graphErr *signaling.APIError
	if errors.As(err, &graphErr) {
		writeJSON(w, http.StatusBadGateway, graphErr.Graph) // Graph's error body, with its request ids
		return
	}
	status, code, msg := o.cfg.Refusal(err)
	writeError(w, status, code, msg)
}

func (o *operator[Call, Join, Status]) list(w http.ResponseWriter, _ *http.Request) {
	calls := o.bot.Calls()
	slices.SortFunc(calls, func(x, y Call) int { return strings.Compare(o.cfg.ID(x), o.cfg.ID(y)) })
	writeJSON(w, http.StatusOK, struct {
		Calls []Call `json:"calls"`
	}{calls})
}

func (o *operator[Call, Join, Status]) get(w http.ResponseWriter, r *http.Request) {
	info, ok := o.bot.Call(chi.URLParam(r, "id"))
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "no live or recently ended call with this id")
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (o *operator[Call, Join, Status]) hangup(w http.ResponseWriter, r *http.Request) {
	if err := o.bot.Hangup(r.Context(), chi.URLParam(r, "id")); err != nil {
		o.refuse(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, signaling.GraphError{Error: signaling.GraphErrorBody{Code: code, Message: msg}})
}

// loopbackListener reports whether r came in on a loopback address.
func loopbackListener(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && netaddr.IsLoopback(local.String())
}
