package mediabot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// mountSmallVolume mounts a tmpfs of size bytes at dir, unmounted when the
// test ends; it skips the test where mounting is not allowed.
func mountSmallVolume(t *testing.T, dir string, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small volume (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s (a file left open?): %v %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
}

// census is what the process holds that a call could leak: goroutines
// other than net/http's keep-alive connections (pooled by the HTTP clients
// and servers, not by a call), descriptors other than sockets, and which of
// those are files under a folder.
type census struct {
	goroutines, files int
	under             []string
}

func takeCensus(t *testing.T, dir string) census {
	t.Helper()
	var c census
	runtime.GC()
	buf := make([]byte, 4<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "net/http.(*persistConn)") && !strings.Contains(g, "net/http.(*conn).serve") {
			c.goroutines++
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || strings.HasPrefix(target, "socket:") {
			continue // closed since ReadDir, or a socket
		}
		c.files++
		if strings.HasPrefix(target, dir+"/") {
			c.under = append(c.under, target)
		}
	}
	return c
}

// The out-dir is on a real volume that fills up mid-call and is then
// remounted read-only, with a call started after that. Each call goes on
// to its end for the other consumers (every frame graphsim sent reaches
// the in-process frame consumer), the file sink reports each call's
// failure once (a sink.error of the file sink, once per call), and when
// the calls are over no file on the volume is open and the goroutines and
// descriptors are back where they were before the calls.
//
// It mounts a tmpfs, so it runs as root (CI does); elsewhere it skips.
func TestFullThenReadOnlyOutDirKeepsCallsGoing(t *testing.T) {
	if testing.Short() {
		t.Skip("plays calls for 8 s")
	}
	volume := t.TempDir()
	// Two calls of two speakers write 128 KB a second of WAV: full in
	// about 2 s.
	mountSmallVolume(t, volume, "256k")
	sim := startSim(t)
	log := &eventLog{}
	frames := &frameCount{per: map[string]int{}}
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, OutDir: volume,
		BotOptions: []mediabot.Option{mediabot.WithEventConsumer(log), mediabot.WithFrameConsumer(frames), steadyLoad()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Errorf("bot.Run: %v", err)
		}
	}()
	before := takeCensus(t, volume)

	const long = 6 * time.Second
	play := func(freqs ...float64) <-chan *graphsim.CallResult {
		return playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: long, Participants: speakers(freqs...)})
	}
	first, second := play(300, 500), play(400, 700)
	testwait.For(t, 15*time.Second, "the volume to fill up", func() bool {
		return len(log.where(ofType(event.SinkError))) >= 2
	})
	if out, err := exec.Command("mount", "-o", "remount,ro", volume).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	third := play(250, 600)

	var results []*graphsim.CallResult
	for _, ch := range []<-chan *graphsim.CallResult{first, second, third} {
		res := <-ch
		if res == nil {
			t.Fatal("a call did not play")
		}
		if res.EndedByBot {
			t.Errorf("call %s: ended by the bot, want it to go on to its end", res.CallID)
		}
		results = append(results, res)
	}
	waitIdle(t, srv)

	frames.mu.Lock()
	for _, res := range results {
		for _, pid := range res.Participants {
			if got, sent := frames.bySSRC[res.SSRCs[pid]], res.PacketsSent[pid]; got != sent {
				t.Errorf("call %s, %s: %d frames delivered to the frame consumer, %d packets sent", res.CallID, pid, got, sent)
			}
		}
	}
	frames.mu.Unlock()

	reports := map[string][]string{}
	for _, e := range log.where(ofType(event.SinkError)) {
		if e.Sink == "file" {
			reports[e.CallID] = append(reports[e.CallID], e.Error)
		}
	}
	for i, res := range results {
		want := []string{"no space left on device", "no space left on device", "read-only file system"}[i]
		if got := reports[res.CallID]; len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("call %s: the file sink reported %q, want one report saying %q", res.CallID, got, want)
		}
		t.Logf("call %s: %d file sink report(s): %q", res.CallID, len(reports[res.CallID]), reports[res.CallID])
	}

	// The calls are over: what they held is let go.
	var after census
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after = takeCensus(t, volume)
		if len(after.under) == 0 && after.goroutines <= before.goroutines && after.files <= before.files {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("10 s after the calls: %+v, before them %+v\n%s", after, before, buf[:runtime.Stack(buf, true)])
		}
	}
	t.Logf("before the calls %d goroutines and %d open files; after them %d and %d, none on the volume",
		before.goroutines, before.files, after.goroutines, after.files)
}
