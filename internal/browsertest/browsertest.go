// Package browsertest drives real browsers (headless Chromium and Firefox)
// as the media processor in tests: a page served on loopback takes the
// bot's offer, answers it with RTCPeerConnection, POSTs the answer to the
// blob's answerUri with its token, and, when asked, sends a tone and
// reports the sender's getStats() back to the test.
//
// The browsers stay on loopback: no ICE servers, loopback candidates
// allowed, background networking off.
package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mediabot-dev/mediabot/internal/lockedbuf"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Browser is a browser binary this package knows how to drive.
type Browser struct {
	Name string // "chromium" or "firefox"
	Path string
}

// Browsers lists the supported browsers, each with where Debian installs it.
var Browsers = []Browser{
	{Name: "chromium", Path: "/usr/bin/chromium"},
	{Name: "firefox", Path: "/usr/bin/firefox-esr"},
}

// Require skips the test unless b is installed.
func (b Browser) Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(b.Path); err != nil {
		pkg := map[string]string{"chromium": "chromium", "firefox": "firefox-esr"}[b.Name]
		t.Skipf("%s not installed at %s (Debian: apt-get install %s)", b.Name, b.Path, pkg)
	}
}

// Call is what the page does as the media processor.
type Call struct {
	Offer     string `json:"offer"`
	AnswerURI string `json:"answerUri"` // "" : the answer is only reported
	Token     string `json:"token"`
	// Send adds a tone (getUserMedia's fake device, else a WebAudio
	// oscillator) on the first audio section and reports getStats()
	// every 500 ms once the answer is posted.
	Send bool `json:"send"`
}

// Report is one thing the page tells the test.
type Report struct {
	Kind   string           `json:"kind"` // answer, posted, stats, error
	SDP    string           `json:"sdp"`
	Status int              `json:"status"`
	Error  string           `json:"error"`
	State  string           `json:"state"` // connectionState, with stats
	Stats  []map[string]any `json:"stats"`
}

// Harness serves the page, its configuration and its reports on one
// loopback origin, with more handlers the test mounts (the answer
// endpoint: same origin, so no CORS).
type Harness struct {
	URL     string
	Mux     *http.ServeMux
	reports chan Report

	mu   sync.Mutex
	call Call
}

//go:embed peer.html
var peerPage []byte

// NewHarness starts the server; it closes when the test ends.
func NewHarness(t testing.TB) *Harness {
	t.Helper()
	h := &Harness{Mux: http.NewServeMux(), reports: make(chan Report, 1024)}
	h.Mux.HandleFunc("GET /peer", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(peerPage)
	})
	h.Mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.call)
	})
	h.Mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep Report
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err := json.Unmarshal(body, &rep); err != nil {
			rep = Report{Kind: "error", Error: "unparsable report: " + err.Error()}
		}
		select {
		case h.reports <- rep:
		default: // the test stopped listening
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h.Mux.HandleFunc("GET /favicon.ico", http.NotFound)
	srv := httptest.NewServer(h.Mux)
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// Start opens the page in browser b for call. The browser is killed when
// the test ends.
func (h *Harness) Start(t testing.TB, b Browser, call Call) {
	t.Helper()
	h.mu.Lock()
	h.call = call
	h.mu.Unlock()
	url := h.URL + "/peer"
	dir := t.TempDir()
	var args []string
	switch b.Name {
	case "chromium":
		args = []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-features=WebRtcHideLocalIpsWithMdns", "--allow-loopback-in-peer-connection",
			"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
			"--autoplay-policy=no-user-gesture-required", "--user-data-dir=" + dir, url}
	case "firefox":
		if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
			t.Fatal(err)
		}
		args = []string{"--headless", "--no-remote", "--profile", dir, url}
	default:
		t.Fatalf("unknown browser %q", b.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, b.Path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+dir, "MOZ_HEADLESS=1", "MOZ_CRASHREPORTER_DISABLE=1")
	stderr := lockedbuf.Buffer{Limit: 1 << 20}
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", b.Name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers
		if t.Failed() {
			t.Logf("%s output:\n%s", b.Name, tail(stderr.String(), 4000))
		}
	})
}

// Wait returns the first report for which accept is true, failing the
// test on an error report or when timeout passes.
func (h *Harness) Wait(t testing.TB, timeout time.Duration, what string, accept func(Report) bool) Report {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r := <-h.reports:
			if r.Kind == "error" {
				t.Fatalf("page: %s", r.Error)
			}
			if accept(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s from the page in %v", what, timeout)
		}
	}
}

// Kind accepts reports of kind k.
func Kind(k string) func(Report) bool { return func(r Report) bool { return r.Kind == k } }

// StatsOf returns the stats of type typ in r.
func (r Report) StatsOf(typ string) []map[string]any {
	var out []map[string]any
	for _, s := range r.Stats {
		if s["type"] == typ {
			out = append(out, s)
		}
	}
	return out
}

// firefoxPrefs keep a test Firefox quiet and local: loopback ICE
// candidates on the loopback interface only, real host addresses (no
// mDNS), fake media without a prompt, and no update, telemetry or
// connectivity traffic.
const firefoxPrefs = `user_pref("media.peerconnection.ice.loopback", true);
user_pref("media.peerconnection.ice.obfuscate_host_addresses", false);
user_pref("media.peerconnection.ice.default_address_only", false);
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("media.autoplay.default", 0);
user_pref("media.autoplay.block-webaudio", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.region.update.enabled", false);
user_pref("browser.search.update", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("security.OCSP.enabled", 0);
user_pref("network.proxy.type", 0);
user_pref("dom.security.https_only_mode", false);
`

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// ErrNoStats is returned by Number when a stat lacks the field.
var ErrNoStats = errors.New("browsertest: no such stat field")

// Number reads a numeric field of a stat.
func Number(stat map[string]any, field string) (float64, error) {
	v, ok := stat[field].(float64)
	if !ok {
		return 0, fmt.Errorf("%w: %s in %v", ErrNoStats, field, strings.TrimSpace(fmt.Sprint(stat)))
	}
	return v, nil
}
