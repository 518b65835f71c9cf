package signaling

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// APIError is Graph's refusal of a request: the HTTP status and Graph's
// error body, with the request ids to quote to Microsoft.
type APIError struct {
	Method, Path string
	Status       int
	Graph        GraphError
	Body         []byte // the raw reply, for operators
}

func newAPIError(method, path string, resp *http.Response, raw []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: raw}
	_ = json.Unmarshal(raw, &e.Graph)
	if e.Graph.Error.InnerError == nil && resp.Header.Get("request-id") != "" {
		e.Graph.Error.InnerError = &GraphInnerError{RequestID: resp.Header.Get("request-id"), ClientRequestID: resp.Header.Get("client-request-id")}
	}
	return e
}

// Error reads like "graph: POST /communications/calls/x/answer: 403
// Forbidden: code: message (request-id r)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if g := e.Graph.Error; g.Code != "" || g.Message != "" {
		fmt.Fprintf(&b, ": %s: %s", g.Code, g.Message)
		if g.InnerError != nil && g.InnerError.RequestID != "" {
			fmt.Fprintf(&b, " (request-id %s)", g.InnerError.RequestID)
		}
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
