package tap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/lockedbuf"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

func natsServer(t *testing.T) *server.Server { return natstest.Start(t, -1, t.TempDir()) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSink(t *testing.T, url string) *natssink.Sink {
	t.Helper()
	s, err := natssink.New(natssink.Config{URL: url, InstanceID: "test", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testFrame is 20 ms at rate of a source, starting at mediaMs, whose samples
// are distinct per source and frame.
func testFrame(callID, pid string, ssrc uint32, rate int, mediaMs int64, level int16) *audio.Frame {
	pcm := make([]int16, rate/50)
	for k := range pcm {
		pcm[k] = level + int16(mediaMs/20)*7 + int16(k%50)
	}
	return &audio.Frame{CallID: callID, ParticipantID: pid, SSRC: ssrc, SampleRate: rate, MediaTimeMs: mediaMs,
		RTPTimestamp: uint32(mediaMs * 48), PCM: pcm}
}

// expectTrack is what a WAV on the media clock holds after these frames.
type expectTrack []int16

func (e *expectTrack) put(f *audio.Frame) {
	at := int(f.MediaTimeMs) * f.SampleRate / 1000
	if at > len(*e) {
		*e = append(*e, make([]int16, at-len(*e))...)
	}
	*e = append(*e, f.PCM...)
}

func TestWriteRebuildsWAVsAndEventsFromTheStream(t *testing.T) {
	srv := natsServer(t)
	s := newSink(t, srv.ClientURL())
	want := map[string]*expectTrack{}
	send := func(name string, f *audio.Frame) {
		s.Frame(f)
		if want[name] == nil {
			want[name] = &expectTrack{}
		}
		want[name].put(f)
	}
	var events []event.Event
	emit := func(e event.Event) {
		e.Time = time.Date(2026, 3, 1, 10, 0, len(events), 0, time.UTC)
		s.Event(e)
		events = append(events, e)
	}
	emit(event.Event{Type: event.CallState, CallID: "call-1", State: "established"})
	emit(event.Event{Type: event.ParticipantJoined, CallID: "call-1", ParticipantID: "alice", SourceID: "11", MediaTimeMs: 40})
	for i := range int64(50) {
		send("call-1/alice", testFrame("call-1", "alice", 11, 16000, 100+20*i, 1000)) // starts 100 ms in
		if i < 20 || i >= 35 {                                                        // a 300 ms gap
			send("call-1/bob", testFrame("call-1", "bob", 22, 16000, 20*i, -2000))
		}
		send("call-2/carol", testFrame("call-2", "carol", 33, 48000, 60+20*i, 300))
	}
	for i := range int64(5) { // never named: published as ssrc-44 at EndCall
		send("call-1/ssrc-44", testFrame("call-1", "", 44, 16000, 500+20*i, 50))
	}
	emit(event.Event{Type: event.CallState, CallID: "call-1", State: "terminated", MediaTimeMs: 1100})
	emit(event.Event{Type: event.SharingStarted, CallID: "call-2", SessionID: "s1", ParticipantID: "carol"})
	s.EndCall("call-1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	err := Run(ctx, Options{URL: srv.ClientURL(), WriteDir: dir, Idle: 300 * time.Millisecond, Out: &out, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("write took %s: it should stop after 300 ms idle", d)
	}
	for name, exp := range want {
		got, rate := wavtest.Read(t, filepath.Join(dir, name+".wav"))
		wantRate := 16000
		if strings.HasPrefix(name, "call-2") {
			wantRate = 48000
		}
		if rate != wantRate {
			t.Errorf("%s: rate %d, want %d", name, rate, wantRate)
		}
		if !slices.Equal(got, *exp) {
			t.Errorf("%s: %d samples differ from the %d sent (first difference at %d)", name, len(got), len(*exp), firstDiff(got, *exp))
		}
	}
	for call, n := range map[string]int{"call-1": 3, "call-2": 1} {
		lines := readLines(t, filepath.Join(dir, call, "events.jsonl"))
		var wantLines []string
		for _, e := range events {
			if e.CallID == call {
				b, _ := json.Marshal(e)
				wantLines = append(wantLines, string(b))
			}
		}
		if len(wantLines) != n || !slices.Equal(lines, wantLines) {
			t.Errorf("%s events.jsonl:\n%s\nwant:\n%s", call, strings.Join(lines, "\n"), strings.Join(wantLines, "\n"))
		}
	}
	if !strings.Contains(out.String(), "written under") {
		t.Errorf("no summary: %q", out.String())
	}
}

func TestWriteFollowsOnlyTheCallAsked(t *testing.T) {
	srv := natsServer(t)
	s := newSink(t, srv.ClientURL())
	s.Frame(testFrame("call-1", "alice", 1, 16000, 0, 10))
	s.Frame(testFrame("call-2", "bob", 2, 16000, 0, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err := Run(context.Background(), Options{URL: srv.ClientURL(), WriteDir: dir, CallID: "call-2", Idle: 200 * time.Millisecond,
		Out: io.Discard, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "call-2" {
		t.Errorf("wrote %v, want only call-2", entries)
	}
}

func TestLivePrintsEachSpeakersLevel(t *testing.T) {
	srv := natsServer(t)
	s := newSink(t, srv.ClientURL())
	s.Frame(testFrame("call-0", "x", 1, 16000, 0, 0)) // creates the stream
	// alice joined before the tap started: it reads her name from the
	// call's earlier events; bob joins while it runs.
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "call-1", ParticipantID: "alice", SourceID: "1",
		Identity: &event.Identity{Kind: event.KindUser, ID: "u-1", DisplayName: "Alice Smith"}})
	var out lockedbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{URL: srv.ClientURL(), Interval: 100 * time.Millisecond, Out: &out, Logger: quiet()})
	}()
	half := regexp.MustCompile(`call-1 alice "Alice Smith" +-6\.0 dBFS \|#{17} *\| talked 2\.5s`)
	bob := regexp.MustCompile(`call-1 bob "Bob \\"B\\" Jones" +-[0-9.]+ dBFS`)
	stretch := int64(2500)
	deadline := time.Now().Add(5 * time.Second)
	for !(half.MatchString(out.String()) && bob.MatchString(out.String())) && time.Now().Before(deadline) {
		if stretch > 0 && strings.Contains(out.String(), "call-1 alice") { // the tap follows the stream now
			s.Event(event.Event{Type: event.SpeechEnded, CallID: "call-1", ParticipantID: "alice", MediaTimeMs: 3000, DurationMs: &stretch})
			s.Event(event.Event{Type: event.SpeechStarted, CallID: "call-1", ParticipantID: "alice", MediaTimeMs: 3500})
			s.Event(event.Event{Type: event.ParticipantJoined, CallID: "call-1", ParticipantID: "bob", SourceID: "2",
				Identity: &event.Identity{Kind: event.KindGuest, DisplayName: `Bob "B" Jones`}})
			stretch = 0
		}
		if stretch == 0 {
			s.Frame(testFrame("call-1", "bob", 2, 16000, 0, 1000))
		}
		f := testFrame("call-1", "alice", 1, 16000, 0, 0)
		for k := range f.PCM { // a square wave at half scale: RMS -6.02 dBFS
			f.PCM[k] = 16384 * int16(1-2*(k%2))
		}
		s.Frame(f)
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !half.MatchString(out.String()) {
		t.Fatalf("no level line for alice (Alice Smith) at -6.0 dBFS who talked 2.5 s in:\n%s", out.String())
	}
	if !bob.MatchString(out.String()) {
		t.Fatalf("no level line for bob with his name, quoted, in:\n%s", out.String())
	}
}

func TestReorderPutsResentMessagesBackInOrder(t *testing.T) {
	var r reorder[uint64]
	var got []uint64
	emit := func(v uint64) { got = append(got, v) }
	for _, seq := range []uint64{0, 1, 3, 4, 2, 2, 5, 7} {
		r.push(seq, seq, emit)
	}
	if want := []uint64{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("emitted %v, want %v", got, want)
	}
	r.flush(emit)
	if want := []uint64{0, 1, 2, 3, 4, 5, 7}; !slices.Equal(got, want) {
		t.Errorf("after flush %v, want %v", got, want)
	}
}

func firstDiff(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
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
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
