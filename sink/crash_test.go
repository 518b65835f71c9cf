package sink

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// crashChildEnv, when set to a directory, turns the test binary into the
// process TestFileSinkSurvivesKill9 kills: it records a call there.
const crashChildEnv = "MEDIABOT_SINK_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// The crash child's call: three participants on the media clock.
const (
	crashCall      = "crash-call"
	crashBobFrom   = 25   // bob first speaks at 500 ms, unnamed (ssrc-2002.wav)
	crashBobNamed  = 40   // the roster names bob's source here
	crashCarolTo   = 60   // carol is quiet after 1.2 s
	crashMaxRounds = 5000 // then the child waits to be killed, files still open
	framesPerSec   = 50
)

// crashChild records crashCall under dir on a fake clock that advances 20 ms
// per round of frames (one per speaking participant), printing the number
// of finished rounds after each one, and never closes the sink: the parent
// kills it. It returns an exit code only if it fails.
func crashChild(dir string) int {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now = func() time.Time { return clock }
	out := bufio.NewWriter(os.Stdout)
	s, err := NewFileSink(dir, testRate, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s.ReportErrorsTo(func(e event.Event) {
		fmt.Fprintf(out, "error: %s\n", e.Error)
		out.Flush()
	})
	alice := newStream(crashCall, "alice", 2001)
	bob := newStream(crashCall, "", 2002)
	carol := newStream(crashCall, "carol", 2003)
	for k := range crashMaxRounds {
		alice.send(s, k)
		if k >= crashBobFrom {
			bob.send(s, k)
		}
		if k < crashCarolTo {
			carol.send(s, k)
		}
		if k == crashBobNamed {
			s.Event(event.Event{Time: clock, Type: event.ParticipantJoined, CallID: crashCall, MediaTimeMs: 20 * int64(k),
				ParticipantID: "bob", SourceID: "2002"})
		}
		if k%10 == 0 {
			s.Event(event.Event{Time: clock, Type: event.StreamStats, CallID: crashCall, MediaTimeMs: 20 * int64(k),
				SSRC: 2001, ParticipantID: "alice", StreamCounters: &event.StreamCounters{Packets: uint64(k)}})
		}
		clock = clock.Add(20 * time.Millisecond)
		fmt.Fprintln(out, k+1)
		out.Flush()
		time.Sleep(time.Millisecond) // let the parent kill it mid-stream
	}
	time.Sleep(time.Minute)
	return 3
}

// TestFileSinkSurvivesKill9 is the issue "after kill -9 mid-call every file
// opens in a standard reader and holds all but the last second": a child
// process records a call of three participants (one renamed mid-call, one
// quiet for the last seconds) and is killed with SIGKILL while writing.
func TestFileSinkSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	const killAfter = 3 * framesPerSec // rounds: 3 s of media
	dir := t.TempDir()
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), crashChildEnv+"="+dir)
	rounds := killMidway(t, child, killAfter, 8*time.Second) // what the child said it finished before the kill
	t.Logf("killed the child after it reported %d rounds (%.2f s of media)", rounds, float64(rounds)/framesPerSec)

	callDir := filepath.Join(dir, crashCall)
	names, err := filepath.Glob(filepath.Join(callDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	if want := []string{"alice.wav", "bob.wav", "carol.wav", "events.jsonl"}; !slices.Equal(names, want) {
		t.Fatalf("call folder holds %v, want %v", names, want)
	}

	// A speaking participant's header lags its writes by less than a second
	// of the clock, which advances 20 ms per round: all but the last 50
	// frames of what the child reported are in the header.
	atLeast := (rounds - framesPerSec) * frameLen
	for _, tr := range []struct {
		file     string
		from, to int // frames spoken
		exactly  bool
		why      string
	}{
		{"alice.wav", 0, crashMaxRounds, false, ""},
		{"bob.wav", crashBobFrom, crashMaxRounds, false, ""},
		{"carol.wav", 0, crashCarolTo, true, "quiet for more than a second: every frame is in the header"},
	} {
		path := filepath.Join(callDir, tr.file)
		pcm := checkCrashedWAV(t, path)
		if tr.exactly {
			if want := tr.to * frameLen; len(pcm) != want {
				t.Errorf("%s: %d samples, want %d (%s)", tr.file, len(pcm), want, tr.why)
			}
		} else if len(pcm) < atLeast {
			t.Errorf("%s: %d samples (%.2f s); the child wrote %.2f s: more than the last second is missing",
				tr.file, len(pcm), float64(len(pcm))/testRate, float64(rounds)/framesPerSec)
		}
		want := wantTrack([2]int{tr.from, min(tr.to, len(pcm)/frameLen+1)})
		want = want[:min(len(want), len(pcm))]
		if i := firstDiff(pcm, want); i >= 0 {
			t.Errorf("%s: sample %d = %d, want %d (the sine from frame %d, silence before)", tr.file, i, pcm[i], want[i], tr.from)
		}
	}

	checkCrashedEvents(t, filepath.Join(callDir, "events.jsonl"), rounds)
}

// checkCrashedWAV reads a WAV left by a killed writer with two independent
// strict readers and the raw header, and returns its samples.
func checkCrashedWAV(t *testing.T, path string) []int16 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < wavHeaderSize {
		t.Fatalf("%s: %d bytes, shorter than a header", path, len(raw))
	}
	riff := int64(binary.LittleEndian.Uint32(raw[4:]))
	data := int64(binary.LittleEndian.Uint32(raw[40:]))
	if riff > int64(len(raw))-8 || data%2 != 0 || data+wavHeaderSize > int64(len(raw)) || riff != data+wavHeaderSize-8 {
		t.Fatalf("%s: %d bytes, RIFF size %d, data size %d: inconsistent", path, len(raw), riff, data)
	}
	pcm, rate := wavtest.Read(t, path)
	other := readWAV(t, path)
	if rate != testRate || other.rate != testRate {
		t.Fatalf("%s: rate %d / %d, want %d", path, rate, other.rate, testRate)
	}
	if !slices.Equal(pcm, other.samples) || int64(len(pcm)) != data/2 {
		t.Fatalf("%s: readers disagree: %d and %d samples, header says %d", path, len(pcm), len(other.samples), data/2)
	}
	return pcm
}

// checkCrashedEvents checks that every complete line of a killed writer's
// events.jsonl is a JSON event of the call (a torn last line is allowed)
// and that the lines of the rounds reported are there.
func checkCrashedEvents(t *testing.T, path string, rounds int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	complete := raw[:bytes.LastIndexByte(raw, '\n')+1]
	lines := strings.Split(string(complete), "\n")
	lines = lines[:len(lines)-1]
	for i, line := range lines {
		var e event.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events.jsonl line %d: %v: %s", i+1, err, line)
		}
		if e.CallID != crashCall || e.Type == "" {
			t.Fatalf("events.jsonl line %d: %s", i+1, line)
		}
	}
	if want := (rounds+9)/10 + 1; len(lines) < want { // stats every 10 rounds, bob's join
		t.Errorf("events.jsonl: %d complete lines, want at least %d", len(lines), want)
	}
}

func firstDiff(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestFileSinkRefreshesTheHeaderOfAQuietParticipant checks the in-process
// half of the crash guarantee: a participant who stops speaking while others
// go on has all of their audio in the header a second later, without Close.
func TestFileSinkRefreshesTheHeaderOfAQuietParticipant(t *testing.T) {
	clock := fakeClock(t)
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	defer s.Close()
	talker, quiet := newStream("c", "talker", 1), newStream("c", "quiet", 2)
	for k := range 2 * framesPerSec {
		talker.send(s, k)
		if k < 10 {
			quiet.send(s, k)
		}
		*clock = clock.Add(20 * time.Millisecond)
	}
	got := readWAV(t, filepath.Join(dir, "c", "quiet.wav"))
	if !slices.Equal(got.samples, wantTrack([2]int{0, 10})) || got.trailingPCM != 0 {
		t.Errorf("quiet.wav: header counts %d samples with %d bytes after; want all %d written",
			len(got.samples), got.trailingPCM, 10*frameLen)
	}
}
