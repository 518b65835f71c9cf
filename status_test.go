package mediabot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

const (
	aliceID = "a11ce000-0000-4000-8000-000000000001"
	bobID   = "b0b00000-0000-4000-8000-000000000002"
)

// statusCall is a two-person call: Alice talks, Bob's microphone is open
// but he says nothing (his frames carry a whisper far below the speaking
// threshold).
func statusCall(webhook string, d time.Duration, aliceTalk []graphsim.Span, shares []graphsim.Share) graphsim.Scenario {
	return graphsim.Scenario{BotURL: webhook, Duration: d, Shares: shares, Participants: []graphsim.Participant{
		{ID: aliceID, DisplayName: "Alice Example", Voice: graphsim.Voice{FundamentalHz: 220, SyllableHz: 3}, Talk: aliceTalk},
		{ID: bobID, DisplayName: "Bob Example", Voice: graphsim.Voice{FundamentalHz: 330, Amplitude: 0.001}},
	}}
}

func getStatus(t *testing.T, base string) mediabot.Status {
	t.Helper()
	resp, err := http.Get(base + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
		t.Fatalf("GET /status.json: %s, Content-Type %q", resp.Status, ct)
	}
	var st mediabot.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /status.json: %v", err)
	}
	return st
}

// waitStatus polls /status.json until ok accepts a snapshot.
func waitStatus(t *testing.T, base string, what string, ok func(mediabot.Status) bool) mediabot.Status {
	t.Helper()
	var st mediabot.Status
	found := false
	defer func() {
		if !found {
			t.Logf("last status: %+v", st)
		}
	}()
	testwait.For(t, 10*time.Second, "a status with "+what, func() bool {
		st = getStatus(t, base)
		return ok(st)
	})
	found = true
	return st
}

func participant(c mediabot.CallStatus, id string) (mediabot.ParticipantStatus, bool) {
	for _, p := range c.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return mediabot.ParticipantStatus{}, false
}

func aliceSpeaking(st mediabot.Status) bool {
	if len(st.Calls) != 1 || st.Calls[0].State != "established" {
		return false
	}
	p, ok := participant(st.Calls[0], aliceID)
	return ok && p.Speaking
}

// playCancelable plays sc until it ends or stop is called.
func playCancelable(t *testing.T, sim *graphsim.Sim, sc graphsim.Scenario) (stop func(), done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() {
		_, err := sim.PlayCall(ctx, sc)
		ch <- err
	}()
	t.Cleanup(cancel)
	return cancel, ch
}

// /status.json shows a live call as it is: who is in it by name, who
// speaks (with a level), who presents; and nothing once it ended.
func TestStatusJSONShowsSpeakersAndSharing(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	webhook, base := srv.Webhook, srv.OpsURL
	if st := getStatus(t, base); len(st.Calls) != 0 || st.Instance != "test" || st.Load != "normal" || st.Draining {
		t.Fatalf("before the call: %+v", st)
	}

	sc := statusCall(webhook, 4*time.Second, []graphsim.Span{{Start: 0, End: 3 * time.Second}},
		[]graphsim.Share{{Start: time.Second, End: 3 * time.Second, Presenter: 1}})
	done := playInBackground(t, sim, sc)

	// Alice talks from 0 to 3 s and Bob shares from 1 to 3 s: wait for a
	// moment with both, then check everything else in that snapshot.
	st := waitStatus(t, base, "Alice speaking while sharing", func(st mediabot.Status) bool {
		return aliceSpeaking(st) && st.Calls[0].SharingActive > 0
	})
	c := st.Calls[0]
	if c.SharingActive != 1 {
		t.Errorf("sharingActive %d, want 1", c.SharingActive)
	}
	if c.MediaSeconds < 0.5 || c.MediaSeconds > 4 {
		t.Errorf("mediaSeconds %.2f, want about 1 to 3 s", c.MediaSeconds)
	}
	alice, _ := participant(c, aliceID)
	bob, ok := participant(c, bobID)
	if !ok {
		t.Fatalf("Bob missing from %+v", c.Participants)
	}
	if alice.DisplayName != "Alice Example" || bob.DisplayName != "Bob Example" || alice.Kind != "user" || bob.Kind != "user" {
		t.Errorf("identities: %+v, %+v", alice, bob)
	}
	if alice.LevelDBFS <= -40 || alice.LevelDBFS > 0 {
		t.Errorf("Alice's level %.1f dBFS, want above -40", alice.LevelDBFS)
	}
	if bob.Speaking || bob.LevelDBFS > -40 {
		t.Errorf("Bob says nothing, yet speaking=%v at %.1f dBFS", bob.Speaking, bob.LevelDBFS)
	}
	if !bob.Presenting || alice.Presenting {
		t.Errorf("presenting: Alice %v, Bob %v; want Bob only", alice.Presenting, bob.Presenting)
	}

	<-done
	waitIdle(t, srv)
	if st := getStatus(t, base); len(st.Calls) != 0 {
		t.Errorf("after the call: %+v", st.Calls)
	}
}

const chromiumPath = "/usr/bin/chromium"

// runChromium runs headless Chromium against url with extra flags, bounded
// to 30 s; the whole process group is killed at the end, renderers included.
func runChromium(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1000,700", "--virtual-time-budget=3000"}, extra...)
	cmd := exec.CommandContext(ctx, chromiumPath, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of a clean exit
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium %s: no exit within 30 s; stderr:\n%s", strings.Join(extra, " "), stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium %s: %v; stderr:\n%s", strings.Join(extra, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// The status page, rendered by a real browser during a call, shows the
// call and who speaks once its script has fetched status.json (also under
// a path prefix), and draws something (not a blank page). Set MEDIABOT_STATUS_SCREENSHOT to a path
// to keep the screenshot.
func TestStatusPageRendersInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless Chromium not installed at %s (Debian: apt-get install chromium): %v", chromiumPath, err)
	}
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	webhook, base := srv.Webhook, srv.OpsURL
	sc := statusCall(webhook, 60*time.Second, nil, []graphsim.Share{{Start: 0, End: 60 * time.Second, Presenter: 1}})
	sc.CallID = "57a7e5ca-11ed-4000-8000-0000000000c1"
	stop, done := playCancelable(t, sim, sc)
	waitStatus(t, base, "Alice speaking", func(st mediabot.Status) bool {
		return aliceSpeaking(st) && st.Calls[0].SharingActive > 0
	})

	// Mounted under a path prefix, as an embedder may: the page finds
	// status.json relative to its own URL.
	prefixed := httptest.NewServer(http.StripPrefix("/mediabot", srv.Bot.OpsHandler()))
	defer prefixed.Close()
	dom := string(runChromium(t, prefixed.URL+"/mediabot/status", "--dump-dom"))
	if !strings.Contains(dom, sc.CallID) {
		t.Errorf("rendered page lacks the call id %s:\n%s", sc.CallID, dom)
	}
	start := strings.Index(dom, `data-id="`+aliceID+`"`)
	if start < 0 {
		t.Fatalf("rendered page has no row for Alice:\n%s", dom)
	}
	row := dom[start:]
	row = row[:strings.Index(row, "</li>")+1]
	if !strings.Contains(row, "Alice Example") || !strings.Contains(row, ">speaking<") {
		t.Errorf("Alice's row lacks her name or the speaking marker: %s", row)
	}
	if !strings.Contains(dom, "sharing: Bob Example") {
		t.Errorf("rendered page lacks the sharing badge with Bob presenting:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	runChromium(t, base+"/status", "--screenshot="+shot, "--hide-scrollbars")
	raw, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG: % x", raw[:min(8, len(raw))])
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) <= 10 {
		t.Errorf("screenshot %dx%d has %d colours: blank page?", b.Dx(), b.Dy(), len(colours))
	}
	if keep := os.Getenv("MEDIABOT_STATUS_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, raw, 0o644); err != nil {
			t.Error(err)
		}
	}

	stop()
	<-done
	waitIdle(t, srv)
}
