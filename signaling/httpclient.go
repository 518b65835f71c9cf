package signaling

import (
	"net/http"
	"time"
)

// idleConnsPerHost is how many idle connections to one host (Graph, the
// token endpoint) a client keeps. Go's default is two: a bot with more
// requests in flight than that (answers, keepAlives, recording status and
// rejections of a burst) opened a connection for each of the others, with
// a TLS handshake on graph.microsoft.com, and closed it after one request.
const idleConnsPerHost = 64

// NewHTTPClient is the client the bot reaches Graph, the token endpoint and
// the signing keys with: requests bounded by timeout, connections kept for
// reuse.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idleConnsPerHost
	return &http.Client{Timeout: timeout, Transport: t}
}
