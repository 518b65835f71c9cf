package nodetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/internal/tap"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// exampleDir is examples/node, from this package's folder.
const exampleDir = "../../examples/node"

// npmTimeout bounds `npm ci`; the whole test stays well under a minute.
const npmTimeout = 30 * time.Second

// offline recognises npm failing for want of the registry.
var offline = regexp.MustCompile(`E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH)|network|socket hang up|ETIMEDOUT|request to .* failed`)

// nodeReady returns node's path once examples/node has its dependencies
// (installing them with `npm ci` when missing), or skips the test.
func nodeReady(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (apt-get install nodejs npm): the Node.js example is not run")
	}
	if _, err := os.Stat(filepath.Join(exampleDir, "node_modules", "nats", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("examples/node/node_modules is missing and npm is not installed: the Node.js example is not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	// npm's cache first; a registry that cannot be reached fails in
	// seconds, not after npm's default minute of retries.
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline",
		"--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=3000", "--fetch-timeout=10000")
	cmd.Dir = exampleDir
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return node
	case ctx.Err() != nil:
		t.Skipf("npm ci in examples/node took more than %s (registry unreachable?): the Node.js example is not run\n%s", npmTimeout, head(out))
	case offline.Match(out):
		t.Skipf("npm ci in examples/node could not reach the registry: the Node.js example is not run\n%s", head(out))
	}
	t.Fatalf("npm ci in examples/node: %v\n%s", err, out)
	return ""
}

// head is the first lines of npm's output.
func head(out []byte) string {
	lines := strings.SplitN(string(out), "\n", 5)
	return strings.Join(lines[:min(len(lines), 4)], "\n")
}

// The Node.js example rebuilds a participant's WAV from the stream a real
// bot published during a graphsim call: the tone she sent, where she sent
// it, silence in her pause; and the same samples `mediabot tap --write`
// rebuilds.
func TestNodeExampleRebuildsAParticipantsWAV(t *testing.T) {
	node := nodeReady(t)
	srv := natstest.Start(t, -1, t.TempDir())
	ns, err := natssink.New(natssink.Config{URL: srv.ClientURL(), InstanceID: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	bot, err := mediabottest.Start(mediabottest.Options{BotOptions: []mediabot.Option{mediabot.WithSink(ns)}})
	if err != nil {
		t.Fatal(err)
	}
	const aliceHz, bobHz = 440.0, 660.0
	talk := []graphsim.Span{{Start: 0, End: time.Second}, {Start: 1600 * time.Millisecond, End: 2600 * time.Millisecond}}
	res, err := bot.Sim.PlayCall(context.Background(), graphsim.Scenario{
		BotURL:   bot.Webhook,
		Duration: 3 * time.Second,
		Participants: []graphsim.Participant{
			{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: aliceHz}, Talk: talk},
			{DisplayName: "Bob", Voice: graphsim.Voice{FundamentalHz: bobHz}, Talk: []graphsim.Span{{Start: 500 * time.Millisecond, End: 2 * time.Second}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(bot.WaitIdle(10*time.Second), bot.Close()); err != nil { // Close closes the sink: every frame acknowledged
		t.Fatal(err)
	}

	dir := t.TempDir()
	wav := filepath.Join(dir, "alice.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "rebuild-wav.js", "--url", srv.ClientURL(), "--call", res.CallID, "--name", "Alice", "--out", wav)
	cmd.Dir = exampleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node rebuild-wav.js: %v\n%s", err, out)
	}
	t.Logf("node rebuild-wav.js: %s", bytes.TrimSpace(out))
	pcm, rate := wavtest.Read(t, wav)
	if rate != 16000 {
		t.Fatalf("WAV at %d Hz, want the bot's 16000", rate)
	}

	// On the media clock: silence until her first frame (graphsim starts
	// talking a moment after the bot counts media as connected), then her
	// tone for 1 s, silence in her 600 ms pause (DTX: no frames), her tone
	// for 1 s again, and the file ends with her last frame.
	onset := slices.IndexFunc(pcm, func(v int16) bool { return v > 300 || v < -300 })
	if onset < 0 || onset > rate/2 {
		t.Fatalf("her audio starts at sample %d, want within the first 500 ms of the media clock", onset)
	}
	start := time.Duration(onset) * time.Second / time.Duration(rate)
	if d := time.Duration(len(pcm))*time.Second/time.Duration(rate) - start; d < 2500*time.Millisecond || d > 2700*time.Millisecond {
		t.Errorf("WAV lasts %s after her first frame, want about 2.6 s (she talked until 2.6 s)", d)
	}
	at := func(from, to time.Duration) []int16 {
		a, b := onset+int(from.Seconds()*float64(rate)), min(onset+int(to.Seconds()*float64(rate)), len(pcm))
		if a >= b {
			return nil
		}
		return pcm[a:b]
	}
	candidates := []float64{220, 330, aliceHz, 550, bobHz}
	for _, span := range talk {
		part := at(span.Start+100*time.Millisecond, span.End-100*time.Millisecond)
		if got := audiotest.Dominant(part, rate, candidates); got < 0 || candidates[got] != aliceHz {
			t.Errorf("%s-%s: dominant frequency %v Hz, want Alice's %v Hz", span.Start, span.End, candidates[max(got, 0)], aliceHz)
		}
		if rms := audiotest.RMS(part); rms < 1000 {
			t.Errorf("%s-%s: RMS %.0f, want her tone", span.Start, span.End, rms)
		}
	}
	if rms := audiotest.RMS(at(1200*time.Millisecond, 1500*time.Millisecond)); rms > 100 {
		t.Errorf("in her pause (1.2-1.5 s after her first word): RMS %.0f, want silence (no frames: DTX)", rms)
	}

	// The same samples as the Go consumer's.
	tapDir := t.TempDir()
	if err := tap.Run(ctx, tap.Options{URL: srv.ClientURL(), WriteDir: tapDir, CallID: res.CallID, Idle: 300 * time.Millisecond,
		Out: &strings.Builder{}, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	alice := ""
	for id, name := range participantNames(res) {
		if name == "Alice" {
			alice = id
		}
	}
	goPCM, _ := wavtest.Read(t, filepath.Join(tapDir, natssink.SubjectToken(res.CallID), natssink.SubjectToken(alice)+".wav"))
	if !slices.Equal(pcm, goPCM) {
		t.Errorf("the Node WAV (%d samples) differs from mediabot tap --write's (%d samples)", len(pcm), len(goPCM))
	}
	if !strings.Contains(string(out), "(Alice)") {
		t.Errorf("script output %q does not name her", out)
	}
}

// participantNames maps the call's participant ids to the display names
// of the scenario (graphsim.CallResult lists the ids in its order).
func participantNames(res *graphsim.CallResult) map[string]string {
	names := []string{"Alice", "Bob"}
	out := map[string]string{}
	for i, id := range res.Participants {
		if i < len(names) {
			out[id] = names[i]
		}
	}
	return out
}
