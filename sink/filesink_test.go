package sink

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
)

const (
	testRate  = 16000
	frameLen  = testRate / 50 // 20 ms
	amplitude = 8000
)

// sine is the known signal: sample n of the media clock.
func sine(n int) int16 {
	return int16(math.Round(amplitude * math.Sin(2*math.Pi*440*float64(n)/testRate)))
}

// stream sends frames like a stream goroutine: one Frame and one PCM buffer,
// reused and scribbled over after each call to catch a sink that keeps them.
type stream struct {
	f   audio.Frame
	pcm []int16
}

func newStream(callID, participantID string, ssrc uint32) *stream {
	return &stream{
		f:   audio.Frame{CallID: callID, ParticipantID: participantID, SSRC: ssrc, SampleRate: testRate},
		pcm: make([]int16, frameLen),
	}
}

// send delivers frame k (mediaTimeMs = 20k) of the sine.
func (s *stream) send(sk Sink, k int) {
	for i := range s.pcm {
		s.pcm[i] = sine(k*frameLen + i)
	}
	s.f.Seq, s.f.MediaTimeMs, s.f.PCM = uint16(k), int64(20*k), s.pcm
	sk.Frame(&s.f)
	for i := range s.pcm {
		s.pcm[i] = math.MaxInt16
	}
}

// wantTrack is what a WAV should hold: the sine at the given frames, zeros
// elsewhere, up to the end of the last frame.
func wantTrack(frames ...[2]int) []int16 {
	var want []int16
	for _, r := range frames {
		for k := r[0]; k < r[1]; k++ {
			for len(want) < k*frameLen {
				want = append(want, 0)
			}
			for i := range frameLen {
				want = append(want, sine(k*frameLen+i))
			}
		}
	}
	return want
}

type errorLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *errorLog) add(e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func newTestSink(t *testing.T, dir string, onError func(event.Event)) *FileSink {
	t.Helper()
	s, err := NewFileSink(dir, testRate, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if onError != nil {
		s.ReportErrorsTo(onError)
	}
	return s
}

func checkTrack(t *testing.T, path string, want []int16) {
	t.Helper()
	got := readWAV(t, path)
	if got.rate != testRate {
		t.Errorf("%s: rate %d, want %d", filepath.Base(path), got.rate, testRate)
	}
	if len(got.samples) != len(want) {
		t.Errorf("%s: %d samples, want %d", filepath.Base(path), len(got.samples), len(want))
		return
	}
	for i := range want {
		if got.samples[i] != want[i] {
			t.Errorf("%s: sample %d = %d, want %d", filepath.Base(path), i, got.samples[i], want[i])
			return
		}
	}
}

func checkGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s still exists (err %v)", filepath.Base(path), err)
	}
}

func TestFileSinkPutsConcurrentParticipantsOnTheMediaClock(t *testing.T) {
	dir := t.TempDir()
	var errs errorLog
	s := newTestSink(t, dir, errs.add)
	tracks := []struct {
		participant string
		frames      [][2]int // [from, to) frame numbers
	}{
		{"alice", [][2]int{{0, 100}}},            // speaks from the start for 2 s
		{"bob", [][2]int{{50, 100}}},             // first speaks at mediaTimeMs=1000
		{"carol", [][2]int{{0, 50}, {100, 150}}}, // 1 s of DTX / gap in the middle
	}
	var wg sync.WaitGroup
	for i, tr := range tracks {
		wg.Go(func() {
			st := newStream("call-1", tr.participant, uint32(1000+i))
			for _, r := range tr.frames {
				for k := r[0]; k < r[1]; k++ {
					st.send(s, k)
				}
			}
		})
	}
	wg.Go(func() {
		for k := range 20 {
			s.Event(event.Event{Type: event.StreamStats, CallID: "call-1", MediaTimeMs: int64(100 * k), SSRC: 1000})
		}
	})
	wg.Wait()
	s.EndCall("call-1")

	for _, tr := range tracks {
		checkTrack(t, filepath.Join(dir, "call-1", tr.participant+".wav"), wantTrack(tr.frames...))
	}
	bob := readWAV(t, filepath.Join(dir, "call-1", "bob.wav")).samples
	if first := slices.IndexFunc(bob, func(v int16) bool { return v != 0 }); first != testRate+1 {
		// sine(testRate) is 0 itself: the first non-zero is the next sample.
		t.Errorf("bob: first non-zero sample at %d, want %d (rate zeros, then the sine)", first, testRate+1)
	}
	if n := len(readLines(t, filepath.Join(dir, "call-1", "events.jsonl"))); n != 20 {
		t.Errorf("events.jsonl has %d lines, want 20", n)
	}
	if len(errs.events) != 0 || s.Errors() != 0 {
		t.Errorf("sink errors: %v", errs.events)
	}
}

func TestFileSinkAppendsLateFramesInsteadOfDropping(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	st := newStream("c", "p", 1)
	st.send(s, 0)
	st.send(s, 1)
	st.send(s, 1) // behind the writer: appended
	st.send(s, 2)
	s.EndCall("c")
	want := slices.Concat(wantTrack([2]int{0, 2}), wantTrack([2]int{1, 2})[frameLen:], wantTrack([2]int{2, 3})[2*frameLen:])
	checkTrack(t, filepath.Join(dir, "c", "p.wav"), want)
}

func TestFileSinkRenamesSSRCFileWhenAFrameNamesTheParticipant(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	unnamed := newStream("c", "", 1234)
	named := newStream("c", "alice", 1234)
	for k := range 10 {
		unnamed.send(s, k)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "ssrc-1234.wav")); err != nil {
		t.Fatalf("before naming: %v", err)
	}
	for k := 10; k < 20; k++ {
		named.send(s, k)
	}
	for k := 20; k < 25; k++ { // a straggler without the name still lands in alice.wav
		unnamed.send(s, k)
	}
	s.EndCall("c")
	checkTrack(t, filepath.Join(dir, "c", "alice.wav"), wantTrack([2]int{0, 25}))
	checkGone(t, filepath.Join(dir, "c", "ssrc-1234.wav"))
}

func TestFileSinkRenamesSSRCFileWhenTheRosterNamesTheSource(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	unnamed := newStream("c", "", 5)
	unnamed.f.CSRC = 77 // the roster's sourceId is the CSRC
	for k := range 10 {
		unnamed.send(s, k)
	}
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "c", ParticipantID: "bob", SourceID: "77"})
	checkGone(t, filepath.Join(dir, "c", "ssrc-77.wav"))
	named := newStream("c", "bob", 5)
	named.f.CSRC = 77
	for k := 10; k < 15; k++ {
		named.send(s, k)
	}
	s.EndCall("c")
	checkTrack(t, filepath.Join(dir, "c", "bob.wav"), wantTrack([2]int{0, 15}))
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestFileSinkWritesEventsJSONL(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	muted := true
	want := []event.Event{
		{Time: at, Type: event.CallIncoming, CallID: "c", TenantID: "t", Direction: "incoming",
			Source: json.RawMessage(`{"identity":{"user":{"id":"u"}}}`)},
		{Time: at, Type: event.CallState, CallID: "c", MediaTimeMs: 0, State: "established"},
		{Time: at, Type: event.ParticipantJoined, CallID: "c", MediaTimeMs: 120, ParticipantID: "p1",
			Identity: &event.Identity{}, SourceID: "42", IsMuted: &muted},
		{Time: at, Type: event.StreamStats, CallID: "c", MediaTimeMs: 5000, SSRC: 42, ParticipantID: "p1",
			StreamCounters: &event.StreamCounters{Packets: 250, Lost: 1, JitterMs: 3.5}},
		{Time: at, Type: event.CallState, CallID: "c", MediaTimeMs: 9000, State: "terminated",
			ResultInfo: &event.ResultInfo{Code: 200, Subcode: 5001, Message: "bye"}},
	}
	for _, e := range want {
		s.Event(e)
	}
	s.Event(event.Event{Time: at, Type: event.LoadState, State: "normal"}) // no call: ignored
	s.EndCall("c")
	s.Event(event.Event{Time: at, Type: event.CallState, CallID: "c", State: "late"}) // ended: ignored

	lines := readLines(t, filepath.Join(dir, "c", "events.jsonl"))
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		var got event.Event
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d = %s\nparses to %+v\nwant       %+v", i+1, line, got, want[i])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("sink dir holds %d entries, want only the call folder", len(entries))
	}
}

func TestFileSinkReportsAFailingCallOnceAndKeepsOthersGoing(t *testing.T) {
	tests := []struct {
		name  string
		block func(t *testing.T, callDir string) // makes callDir unusable
		frame func(f *audio.Frame)
	}{
		{"call folder not writable", func(t *testing.T, callDir string) {
			if err := os.Mkdir(callDir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(callDir, 0o700) })
			if f, err := os.Create(filepath.Join(callDir, "probe")); err == nil {
				f.Close()
				t.Skip("chmod does not stop this user (root?)")
			}
		}, nil},
		{"call folder path is a file", func(t *testing.T, callDir string) {
			if err := os.WriteFile(callDir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"frame at another sample rate", func(*testing.T, string) {}, func(f *audio.Frame) { f.SampleRate = 48000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.block(t, filepath.Join(dir, "bad"))
			var errs errorLog
			var s *FileSink
			s = newTestSink(t, dir, func(e event.Event) {
				errs.add(e)
				s.Event(e) // feeding it back must not deadlock
			})
			bad, good := newStream("bad", "p", 1), newStream("good", "p", 2)
			if tt.frame != nil {
				tt.frame(&bad.f)
			}
			for k := range 10 {
				bad.send(s, k)
				s.Event(event.Event{Type: event.StreamStats, CallID: "bad"})
				good.send(s, k)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if len(errs.events) != 1 || s.Errors() != 1 {
				t.Fatalf("got %d sink.error events (Errors() = %d), want 1: %+v", len(errs.events), s.Errors(), errs.events)
			}
			e := errs.events[0]
			if e.Type != event.SinkError || e.CallID != "bad" || e.Sink != "file" || e.Error == "" {
				t.Errorf("sink.error = %+v", e)
			}
			checkTrack(t, filepath.Join(dir, "good", "p.wav"), wantTrack([2]int{0, 10}))
		})
	}
}

func TestNewFileSinkFailsOnAnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileSink(filepath.Join(file, "out"), testRate, nil); !errors.Is(err, ErrDirUnusable) {
		t.Errorf("dir under a file: err = %v, want ErrDirUnusable", err)
	}
	if _, err := NewFileSink(t.TempDir(), 0, nil); !errors.Is(err, ErrSampleRate) {
		t.Errorf("rate 0: err = %v, want ErrSampleRate", err)
	}
}

func TestFileSinkIgnoresFramesAfterEndCallAndClose(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	if got, want := s.String(), "FILE("+dir+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	a, b := newStream("a", "p", 1), newStream("b", "p", 2)
	a.send(s, 0)
	b.send(s, 0)
	s.EndCall("a")
	a.send(s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b.send(s, 1)
	if err := s.Close(); !errors.Is(err, ErrSinkClosed) {
		t.Errorf("second Close = %v, want ErrSinkClosed", err)
	}
	checkTrack(t, filepath.Join(dir, "a", "p.wav"), wantTrack([2]int{0, 1}))
	checkTrack(t, filepath.Join(dir, "b", "p.wav"), wantTrack([2]int{0, 1}))
}

func TestFileSinkRemoveOlderThanDeletesOnlyOldEndedCalls(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	defer s.Close()
	for _, call := range []string{"old", "new", "live"} {
		newStream(call, "p", 1).send(s, 0)
	}
	s.EndCall("old")
	s.EndCall("new")
	long := time.Now().Add(-48 * time.Hour)
	for _, call := range []string{"old", "live"} {
		for _, name := range []string{"p.wav", "events.jsonl", ""} {
			if err := os.Chtimes(filepath.Join(dir, call, name), long, long); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := s.RemoveOlderThan(24 * time.Hour)
	if err != nil || removed != 1 {
		t.Fatalf("RemoveOlderThan = %d, %v; want 1, nil", removed, err)
	}
	checkGone(t, filepath.Join(dir, "old"))
	for _, call := range []string{"new", "live"} {
		if _, err := os.Stat(filepath.Join(dir, call, "p.wav")); err != nil {
			t.Errorf("%s: %v", call, err)
		}
	}
}

func TestFileSinkRollsOverAndRenamesEveryPart(t *testing.T) {
	defer func(old int64) { maxDataBytes = old }(maxDataBytes)
	maxDataBytes = 1000 // 500 samples per file
	dir := t.TempDir()
	s := newTestSink(t, dir, nil)
	unnamed, named := newStream("c", "", 9), newStream("c", "p", 9)
	for k := range 3 {
		unnamed.send(s, k)
	}
	for k := 3; k < 5; k++ {
		named.send(s, k)
	}
	s.EndCall("c")
	var all []int16
	for _, name := range []string{"p.wav", "p.2.wav", "p.3.wav", "p.4.wav"} {
		all = append(all, readWAV(t, filepath.Join(dir, "c", name)).samples...)
	}
	if !slices.Equal(all, wantTrack([2]int{0, 5})) {
		t.Errorf("parts hold %d samples, want the %d sent", len(all), 5*frameLen)
	}
	checkGone(t, filepath.Join(dir, "c", "ssrc-9.wav"))
	checkGone(t, filepath.Join(dir, "c", "ssrc-9.2.wav"))
}
