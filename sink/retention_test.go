package sink

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/event"
)

// sharedClock replaces the package clock with one that goroutines may read
// while the test moves it; it starts at the real time, since the files it
// is compared with carry real modification times. Call it before creating
// the sink, so that the sink's Close (a later cleanup) runs first.
func sharedClock(t *testing.T) *atomic.Int64 {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now = func() time.Time { return time.Unix(0, clock.Load()) }
	t.Cleanup(func() { now = time.Now })
	return &clock
}

// waitFor polls cond for up to 5 s: the retention loop runs on its own
// goroutine, on a busy machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// oldCallFolder makes an ended call's folder whose files are two days old.
func oldCallFolder(t *testing.T, dir, call string) string {
	t.Helper()
	path := filepath.Join(dir, call)
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(path, "events.jsonl")
	if err := os.WriteFile(file, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{file, path} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestFileSinkRetentionRemovesOldCallsAtStartThenEveryInterval(t *testing.T) {
	clock := sharedClock(t)
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	t.Cleanup(func() { s.Close() })
	newStream("recent", "p", 1).send(s, 0)
	s.EndCall("recent")
	newStream("live", "p", 2).send(s, 0) // never ended: never removed
	old := oldCallFolder(t, dir, "old")

	s.StartRetention(24*time.Hour, time.Millisecond)
	waitFor(t, "the two-day-old call is still there", func() bool { return !exists(old) })
	if !exists(filepath.Join(dir, "recent", "p.wav")) {
		t.Fatal("a call of a moment ago was removed")
	}

	clock.Add(int64(25 * time.Hour))
	waitFor(t, "a call older than 24 h by the clock is still there", func() bool {
		return !exists(filepath.Join(dir, "recent"))
	})
	if !exists(filepath.Join(dir, "live", "p.wav")) {
		t.Fatal("a live call was removed")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	later := oldCallFolder(t, dir, "later")
	time.Sleep(50 * time.Millisecond) // 50 intervals
	if !exists(later) {
		t.Fatal("retention still runs after Close")
	}
}

func TestFileSinkRetentionReportsAFailingRunOnce(t *testing.T) {
	sharedClock(t)
	dir := filepath.Join(t.TempDir(), "out")
	var errs errorLog
	count := func() int {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		return len(errs.events)
	}
	s := newTestSink(t, dir, errs.add)
	t.Cleanup(func() { s.Close() })
	if err := os.Remove(dir); err != nil { // every run fails to list it
		t.Fatal(err)
	}

	s.StartRetention(24*time.Hour, time.Millisecond)
	waitFor(t, "no sink.error", func() bool { return count() > 0 })
	time.Sleep(30 * time.Millisecond) // 30 more failing runs
	if n := count(); n != 1 {
		t.Fatalf("%d sink.error events for one run of failures, want 1", n)
	}
	errs.mu.Lock()
	e := errs.events[0]
	errs.mu.Unlock()
	if e.Type != event.SinkError || e.Sink != "file" || e.CallID != "" || e.Error == "" || e.Time.IsZero() {
		t.Errorf("sink.error = %+v", e)
	}
	if s.Errors() != 0 {
		t.Errorf("Errors() = %d; it counts failed calls, and no call failed", s.Errors())
	}

	if err := os.Mkdir(dir, 0o755); err != nil { // it works again ...
		t.Fatal(err)
	}
	old := oldCallFolder(t, dir, "old")
	waitFor(t, "retention did not recover", func() bool { return !exists(old) })
	if err := os.Remove(dir); err != nil { // ... and fails again: a new report
		t.Fatal(err)
	}
	waitFor(t, "a new run of failures was not reported", func() bool { return count() == 2 })
}

func TestFileSinkStartRetention(t *testing.T) {
	t.Run("a zero interval still runs once at start", func(t *testing.T) {
		dir := t.TempDir()
		s := newTestSink(t, dir, nil)
		old := oldCallFolder(t, dir, "old")
		s.StartRetention(24*time.Hour, 0)
		waitFor(t, "no first run", func() bool { return !exists(old) })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a second call replaces the loop", func(t *testing.T) {
		dir := t.TempDir()
		s := newTestSink(t, dir, nil)
		s.StartRetention(24*time.Hour, time.Hour)
		s.StartRetention(24*time.Hour, time.Millisecond)
		time.Sleep(10 * time.Millisecond) // past the first runs of both
		old := oldCallFolder(t, dir, "old")
		waitFor(t, "the second loop does not run", func() bool { return !exists(old) })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after Close it does nothing", func(t *testing.T) {
		dir := t.TempDir()
		s := newTestSink(t, dir, nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		old := oldCallFolder(t, dir, "old")
		s.StartRetention(24*time.Hour, time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		if !exists(old) {
			t.Fatal("retention ran on a closed sink")
		}
	})
	t.Run("a maxAge that is not positive panics", func(t *testing.T) {
		s := newTestSink(t, t.TempDir(), nil)
		defer s.Close()
		defer func() {
			if recover() == nil {
				t.Fatal("StartRetention(0, 0) did not panic")
			}
		}()
		s.StartRetention(0, 0)
	})
}
