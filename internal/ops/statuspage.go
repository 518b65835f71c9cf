package ops

import (
	_ "embed"
	"net/http"
)

// statusPage is the status page: one self-contained document that polls
// status.json, relative to its own URL so that it works under a path prefix.
//
//go:embed status.html
var statusPage []byte

// statusPagePolicy lets the page run its own inline script and style and
// reach nothing but this instance.
const statusPagePolicy = "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", statusPagePolicy)
	_, _ = w.Write(statusPage)
}
