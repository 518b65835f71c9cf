package sink

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mediabot-dev/mediabot/event"
)

// fullDisk is a WAV file on a volume with room for only budget more bytes:
// appends past it fail with ENOSPC after writing what fits, as write(2) does;
// header rewrites (WriteAt over bytes already there) still succeed.
type fullDisk struct {
	*os.File
	mu     sync.Mutex
	budget int
}

func (f *fullDisk) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) <= f.budget {
		f.budget -= len(p)
		return f.File.Write(p)
	}
	n, err := f.File.Write(p[:f.budget])
	f.budget -= n
	if err == nil {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

// fillDiskUnder makes every WAV created under dir run out of space after
// budget bytes (its header included).
func fillDiskUnder(t *testing.T, dir string, budget int) {
	t.Helper()
	create := createFile
	createFile = func(path string) (wavOutput, error) {
		f, err := create(path)
		if err != nil || !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			return f, err
		}
		return &fullDisk{File: f.(*os.File), budget: budget}, nil
	}
	t.Cleanup(func() { createFile = create })
}

func TestFileSinkReportsAFullDiskOnceAndKeepsOtherCallsGoing(t *testing.T) {
	dir := t.TempDir()
	const fits = 5 // frames the full disk takes, then part of a sixth
	fillDiskUnder(t, filepath.Join(dir, "full"), wavHeaderSize+fits*2*frameLen+100)
	var errs errorLog
	var s *FileSink
	s = newTestSink(t, dir, func(e event.Event) {
		errs.add(e)
		s.Event(e)
	})
	full, ok := newStream("full", "p", 1), newStream("ok", "p", 2)
	for k := range 50 {
		full.send(s, k)
		ok.send(s, k)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(errs.events) != 1 || s.Errors() != 1 {
		t.Fatalf("got %d sink.error events (Errors() = %d), want 1: %+v", len(errs.events), s.Errors(), errs.events)
	}
	if e := errs.events[0]; e.Type != event.SinkError || e.CallID != "full" || e.Sink != "file" ||
		!strings.Contains(e.Error, syscall.ENOSPC.Error()) {
		t.Errorf("sink.error = %+v, want one of call full saying %q", e, syscall.ENOSPC.Error())
	}
	checkTrack(t, filepath.Join(dir, "ok", "p.wav"), wantTrack([2]int{0, 50}))
	// The full call's file stays readable and its header declares the whole
	// samples that reached the disk: the frames that fit and the part of
	// the sixth the disk took.
	want := wantTrack([2]int{0, fits + 1})[:(fits*2*frameLen+100)/2]
	checkTrack(t, filepath.Join(dir, "full", "p.wav"), want)
}
