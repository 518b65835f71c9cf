package signaling

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// APIError is Graph's refusal of a request: the HTTP status and Graph's
// error body, with the request ids to quote to Microsoft.
type APIError struct {
	Method, Path string
	Status       int
	Graph        GraphError
	Body         []byte // the raw reply, for operators
	// RequestID is Graph's id of the failed request: innerError's
	// request-id, or the request-id response header when the body has none.
	RequestID string
	// ClientRequestID is the client-request-id the client sent (the same on
	// every attempt of one logical request).
	ClientRequestID string
	// RetryAfter is the wait Graph asked for with Retry-After; 0 if none.
	RetryAfter time.Duration
	// Attempts is how many times the request was sent, this one included.
	Attempts int
}

func newAPIError(method, path string, resp *http.Response, raw []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: raw,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	_ = json.Unmarshal(raw, &e.Graph)
	if in := e.Graph.Error.InnerError; in != nil {
		e.RequestID, e.ClientRequestID = in.RequestID, in.ClientRequestID
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("request-id")
	}
	if e.ClientRequestID == "" {
		e.ClientRequestID = resp.Header.Get("client-request-id")
	}
	if e.Graph.Error.InnerError == nil && e.RequestID != "" {
		e.Graph.Error.InnerError = &GraphInnerError{RequestID: e.RequestID, ClientRequestID: e.ClientRequestID}
	}
	return e
}

// Error reads like "graph: POST /communications/calls/x/answer: 403
// Forbidden: code: message (request-id r)", with ", after 3 attempts" when
// the request was retried.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if g := e.Graph.Error; g.Code != "" || g.Message != "" {
		fmt.Fprintf(&b, ": %s: %s", g.Code, g.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request-id %s)", e.RequestID)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, ", after %d attempts", e.Attempts)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrGraph) true, and errors.Is(err,
// ErrCallGone) for a 404.
func (e *APIError) Unwrap() []error {
	if e.Status == http.StatusNotFound {
		return []error{ErrGraph, ErrCallGone}
	}
	return []error{ErrGraph}
}
