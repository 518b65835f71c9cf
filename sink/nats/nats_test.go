package nats

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/sink"
)

func natsServer(t *testing.T, port int, dir string) *server.Server {
	return natstest.Start(t, port, dir)
}

func serverPort(srv *server.Server) int { return srv.Addr().(*net.TCPAddr).Port }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestNATS makes a sink on srv; change adjusts its configuration.
func newTestNATS(t *testing.T, url string, change func(*Config)) *Sink {
	t.Helper()
	cfg := Config{URL: url, InstanceID: "test-1", Logger: quietLogger(), ReconnectWait: 50 * time.Millisecond}
	if change != nil {
		change(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testFrame is frame i of a source: 20 ms at 16 kHz whose samples say which
// frame they are.
func testFrame(callID, pid string, ssrc uint32, i int) *audio.Frame {
	pcm := make([]int16, 320)
	for k := range pcm {
		pcm[k] = int16(int(ssrc)%97*100 + i*3 + k)
	}
	return &audio.Frame{
		CallID: callID, ParticipantID: pid, SSRC: ssrc, Seq: uint16(i), RTPTimestamp: uint32(960 * i),
		MediaTimeMs: int64(20 * i), SampleRate: 16000, Concealed: i%5 == 4, PCM: pcm,
	}
}

func pcmBytes(pcm []int16) []byte {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// stored returns every message of the stream, in stream order.
func stored(t *testing.T, url string) []*jetstream.RawStreamMsg {
	t.Helper()
	js := natstest.JetStream(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// storedCount is the number of messages in the stream now.
func storedCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitStored waits until the stream holds want messages.
func waitStored(t *testing.T, url string, want uint64) {
	t.Helper()
	js := natstest.JetStream(t, url)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := storedCount(t, js)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bySubject groups messages by subject.
func bySubject(msgs []*jetstream.RawStreamMsg) map[string][]*jetstream.RawStreamMsg {
	out := map[string][]*jetstream.RawStreamMsg{}
	for _, m := range msgs {
		out[m.Subject] = append(out[m.Subject], m)
	}
	return out
}

// checkFrames checks that subject holds exactly frames (in Mediabot-Seq
// order 0..n-1) with every header the README's "Consuming audio: in-process,
// files, NATS" section names; the ids in the headers are the frames' own,
// unsanitised (ssrc-{n}, or the name a roster event gave, when the frame
// had none).
func checkFrames(t *testing.T, msgs []*jetstream.RawStreamMsg, callTok, pidTok string, frames []*audio.Frame) {
	t.Helper()
	if len(msgs) != len(frames) {
		t.Fatalf("mediabot.audio.%s.%s: %d messages, want %d", callTok, pidTok, len(msgs), len(frames))
	}
	for i, m := range msgs {
		f := frames[i]
		want := map[string]string{
			"Mediabot-Sample-Rate":    "16000",
			"Mediabot-Seq":            strconv.Itoa(i),
			"Mediabot-Rtp-Timestamp":  strconv.FormatUint(uint64(f.RTPTimestamp), 10),
			"Mediabot-Media-Time":     strconv.FormatInt(f.MediaTimeMs, 10),
			"Mediabot-Concealed":      strconv.FormatBool(f.Concealed),
			"Mediabot-Instance":       "test-1",
			"Mediabot-Call-Id":        f.CallID,
			"Mediabot-Participant-Id": cmp.Or(f.ParticipantID, pidTok), // named later by an event: the subject's
			"Nats-Msg-Id":             callTok + "/" + pidTok + "/" + strconv.Itoa(i),
		}
		for k, v := range want {
			if got := m.Header.Get(k); got != v {
				t.Errorf("%s #%d: %s = %q, want %q", m.Subject, i, k, got, v)
			}
		}
		if m.Subject != "mediabot.audio."+callTok+"."+pidTok {
			t.Errorf("#%d subject %q", i, m.Subject)
		}
		if string(m.Data) != string(pcmBytes(f.PCM)) {
			t.Errorf("%s #%d: payload is not the frame's PCM s16le", m.Subject, i)
		}
	}
}

func TestNATSPublishesFramesAndEventsAsTheContractSays(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	s := newTestNATS(t, srv.ClientURL(), nil)
	if got, want := s.String(), "NATS("+srv.ClientURL()+" MEDIABOT)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	const call = "57dab8b1-894c-409a-b240-bd8beae78896"
	alice, bob := "1f3c7a2e-0000-4000-8000-00000000000a", "1f3c7a2e-0000-4000-8000-00000000000b"
	events := []event.Event{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: event.CallState, CallID: call, State: "established"},
		{Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Type: event.ParticipantJoined, CallID: call, ParticipantID: alice, SourceID: "11", MediaTimeMs: 5},
	}
	for _, e := range events {
		s.Event(e)
	}
	var fa, fb []*audio.Frame
	for i := range 30 {
		a, b := testFrame(call, alice, 11, i), testFrame(call, bob, 22, i)
		fa, fb = append(fa, a), append(fb, b)
		s.Frame(a)
		s.Frame(b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, sink.ErrSinkClosed) {
		t.Errorf("second Close: %v, want sink.ErrSinkClosed", err)
	}
	subj := bySubject(stored(t, srv.ClientURL()))
	checkFrames(t, subj["mediabot.audio."+call+"."+alice], call, alice, fa)
	checkFrames(t, subj["mediabot.audio."+call+"."+bob], call, bob, fb)
	got := subj["mediabot.events."+call]
	if len(got) != len(events) {
		t.Fatalf("%d events, want %d", len(got), len(events))
	}
	for i, m := range got {
		line, _ := json.Marshal(events[i])
		if string(m.Data) != string(line) {
			t.Errorf("event %d payload %s, want %s", i, m.Data, line)
		}
		if id := m.Header.Get("Nats-Msg-Id"); id != call+"/events/"+strconv.Itoa(i) {
			t.Errorf("event %d Nats-Msg-Id %q", i, id)
		}
		if inst := m.Header.Get("Mediabot-Instance"); inst != "test-1" {
			t.Errorf("event %d Mediabot-Instance %q", i, inst)
		}
		if id := m.Header.Get("Mediabot-Call-Id"); id != call {
			t.Errorf("event %d Mediabot-Call-Id %q", i, id)
		}
		if id, ok := m.Header["Mediabot-Participant-Id"]; events[i].ParticipantID == "" && ok ||
			events[i].ParticipantID != "" && (len(id) != 1 || id[0] != events[i].ParticipantID) {
			t.Errorf("event %d Mediabot-Participant-Id %q, want %q", i, id, events[i].ParticipantID)
		}
	}
	if s.Dropped() != 0 {
		t.Errorf("Dropped() = %d", s.Dropped())
	}
}

func TestSubjectTokenSanitisesWhatNATSForbids(t *testing.T) {
	cases := []struct{ id, want string }{
		{"57dab8b1-894c-409a-b240-bd8beae78896", "57dab8b1-894c-409a-b240-bd8beae78896"},
		{"57DAB8B1894C409AB240BD8BEAE78896", "57DAB8B1894C409AB240BD8BEAE78896"},
		{"a.b", "a_b"},
		{"x*y>z", "x_y_z"},
		{"two words\there\n", "two_words_here_"},
		{"", "_"},
		{"ssrc-42", "ssrc-42"},
	}
	for _, tc := range cases {
		if got := SubjectToken(tc.id); got != tc.want {
			t.Errorf("SubjectToken(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestNATSSanitisedIdsMakeValidSubjects(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	s := newTestNATS(t, srv.ClientURL(), nil)
	f := testFrame("call.one two", "who*>", 5, 0)
	s.Frame(f)
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "call.one two", ParticipantID: "who*>", SourceID: "5"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	subj := bySubject(stored(t, srv.ClientURL()))
	checkFrames(t, subj["mediabot.audio.call_one_two.who__"], "call_one_two", "who__", []*audio.Frame{f})
	ev := subj["mediabot.events.call_one_two"]
	if len(ev) != 1 {
		t.Fatalf("%d events, want 1", len(ev))
	}
	if c, p := ev[0].Header.Get("Mediabot-Call-Id"), ev[0].Header.Get("Mediabot-Participant-Id"); c != "call.one two" || p != "who*>" {
		t.Errorf("event headers carry ids %q and %q, want them as given", c, p)
	}
}

// holdClock is the hold's clock in tests.
type holdClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *holdClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *holdClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestNATSHoldsUnnamedFramesThenPublishesThemAsSSRC(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	clk := &holdClock{t: time.Unix(1e9, 0)}
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.now = clk.Now })
	var frames []*audio.Frame
	for i := range 10 {
		frames = append(frames, testFrame("c1", "", 4242, i))
		s.Frame(frames[i])
	}
	clk.Advance(natsHold - time.Millisecond)
	time.Sleep(3 * natsTick)
	if n := len(stored(t, srv.ClientURL())); n != 0 {
		t.Fatalf("%d messages published before the hold ran out", n)
	}
	clk.Advance(time.Millisecond)
	waitStored(t, srv.ClientURL(), 10)
	for i := 10; i < 15; i++ { // after the hold: published at once, same subject
		frames = append(frames, testFrame("c1", "", 4242, i))
		s.Frame(frames[i])
	}
	waitStored(t, srv.ClientURL(), 15)
	checkFrames(t, stored(t, srv.ClientURL()), "c1", "ssrc-4242", frames)
}

func TestNATSPublishesHeldFramesUnderANameThatArrivesInTime(t *testing.T) {
	cases := []struct {
		name  string
		namer func(s *Sink, frames []*audio.Frame) []*audio.Frame
	}{
		{"a later frame carries the participant id", func(s *Sink, frames []*audio.Frame) []*audio.Frame {
			f := testFrame("c1", "alice", 77, len(frames))
			s.Frame(f)
			return append(frames, f)
		}},
		{"a participant.joined event names the source", func(s *Sink, frames []*audio.Frame) []*audio.Frame {
			s.Event(event.Event{Type: event.ParticipantJoined, CallID: "c1", ParticipantID: "alice", SourceID: "77"})
			f := testFrame("c1", "", 77, len(frames)) // still unnamed in the frame: the roster names it
			s.Frame(f)
			return append(frames, f)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := natsServer(t, -1, t.TempDir())
			clk := &holdClock{t: time.Unix(1e9, 0)}
			s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.now = clk.Now })
			var frames []*audio.Frame
			for i := range 20 {
				frames = append(frames, testFrame("c1", "", 77, i))
				s.Frame(frames[i])
			}
			clk.Advance(natsHold / 2)
			frames = tc.namer(s, frames)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			subj := bySubject(stored(t, srv.ClientURL()))
			checkFrames(t, subj["mediabot.audio.c1.alice"], "c1", "alice", frames)
			if n := len(subj["mediabot.audio.c1.ssrc-77"]); n != 0 {
				t.Errorf("%d frames published as ssrc-77", n)
			}
		})
	}
}

func TestNATSEndCallPublishesHeldFramesAndIgnoresLaterOnes(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	s := newTestNATS(t, srv.ClientURL(), nil)
	var frames []*audio.Frame
	for i := range 5 {
		frames = append(frames, testFrame("c1", "", 9, i))
		s.Frame(frames[i])
	}
	s.EndCall("c1")
	s.Frame(testFrame("c1", "", 9, 5))
	s.Event(event.Event{Type: event.CallState, CallID: "c1", State: "terminated"})
	waitStored(t, srv.ClientURL(), 5) // well before the 2 s hold
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, stored(t, srv.ClientURL()), "c1", "ssrc-9", frames)
}

func TestNATSStreamStoresAResendOnce(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	s := newTestNATS(t, srv.ClientURL(), nil)
	f := testFrame("c1", "alice", 1, 0)
	s.Frame(f)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	first := stored(t, srv.ClientURL())
	if len(first) != 1 {
		t.Fatalf("%d messages, want 1", len(first))
	}
	js := natstest.JetStream(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, &natsgo.Msg{Subject: first[0].Subject, Data: first[0].Data, Header: first[0].Header})
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Error("the resend was not recognised as a duplicate")
	}
	if n := storedCount(t, js); n != 1 {
		t.Errorf("stream holds %d messages after the resend, want 1", n)
	}
}

// Across a NATS server restart no frame is lost and none is stored twice.
func TestNATSKeepsEveryFrameAcrossAServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natsServer(t, -1, dir)
	port := serverPort(srv)
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.AckTimeout = time.Second })

	speakers := []string{"alice", "bob"}
	var sent atomic.Int64
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() { // the drainer: a batch every 10 ms
		defer close(produced)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k, pid := range speakers {
				s.Frame(testFrame("c1", pid, uint32(k+1), i))
			}
			sent.Store(int64(i + 1))
		}
	}()
	time.Sleep(500 * time.Millisecond)
	srv.Shutdown()
	srv.WaitForShutdown()
	atShutdown := sent.Load()
	time.Sleep(time.Second)
	duringOutage := sent.Load() - atShutdown
	natsServer(t, port, dir)
	time.Sleep(700 * time.Millisecond)
	close(stop)
	<-produced
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if duringOutage < 20 {
		t.Fatalf("only %d frames per speaker produced while the server was down", duringOutage)
	}
	n := int(sent.Load())
	subj := bySubject(stored(t, fmt.Sprintf("nats://127.0.0.1:%d", port)))
	for _, pid := range speakers {
		msgs := subj["mediabot.audio.c1."+pid]
		seen := make([]int, n)
		for _, m := range msgs {
			seq, err := strconv.Atoi(m.Header.Get("Mediabot-Seq"))
			if err != nil || seq < 0 || seq >= n {
				t.Fatalf("%s: bad Mediabot-Seq %q", pid, m.Header.Get("Mediabot-Seq"))
			}
			seen[seq]++
		}
		var missing, twice []int
		for seq, c := range seen {
			switch {
			case c == 0:
				missing = append(missing, seq)
			case c > 1:
				twice = append(twice, seq)
			}
		}
		if len(missing) > 0 || len(twice) > 0 {
			t.Errorf("%s: %d frames sent; missing %v; stored more than once %v", pid, n, missing, twice)
		}
	}
	if s.Dropped() != 0 {
		t.Errorf("Dropped() = %d below the backlog bound", s.Dropped())
	}
}

func TestNATSDropsPastTheBacklogAndReportsOnce(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	var reports []event.Event
	var mu sync.Mutex
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) {
		c.MaxPending, c.Backlog = 10, 50
		c.AckTimeout, c.CloseTimeout = 300*time.Millisecond, 300*time.Millisecond
	})
	s.ReportErrorsTo(func(e event.Event) {
		mu.Lock()
		reports = append(reports, e)
		mu.Unlock()
	})
	srv.Shutdown()
	srv.WaitForShutdown()
	const frames = 200
	for i := range frames {
		s.Frame(testFrame("c1", "alice", 1, i))
	}
	s.Event(event.Event{Type: event.CallState, CallID: "c1", State: "established"})
	if d := s.Dropped(); d < frames+1-10-50 || d > frames+1-50 {
		t.Errorf("Dropped() = %d, want between %d and %d", d, frames+1-10-50, frames+1-50)
	}
	err := s.Close()
	if !errors.Is(err, ErrUnacked) {
		t.Errorf("Close with the server down: %v, want ErrUnacked", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 {
		t.Fatalf("%d sink.error reports, want 1: %+v", len(reports), reports)
	}
	r := reports[0]
	if r.Type != event.SinkError || r.Sink != "nats" || r.CallID != "c1" || !strings.Contains(r.Error, "backlog") {
		t.Errorf("report %+v", r)
	}
}

func TestNewNATSFailsAtStartWithoutAServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = New(Config{URL: "nats://" + addr, Logger: quietLogger()})
	if err == nil {
		t.Fatal("New succeeded without a server")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error does not name the server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to fail", d)
	}
}

func TestNATSStringHidesPasswords(t *testing.T) {
	if got := redactURL("nats://u:secret@h:4222,nats://h2:4222"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
}

func TestNewNATSRefusesAStreamThatDoesNotTakeItsSubjects(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	js := natstest.JetStream(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MEDIABOT", Subjects: []string{"mediabot.audio.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "mediabot.events.") {
		t.Errorf("New on a stream without the events subjects: %v", err)
	}
	if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "MEDIABOT", Subjects: []string{"mediabot.>"}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New on a stream taking mediabot.>: %v", err)
	}
	s.Close()
}

func TestSubjectMatches(t *testing.T) {
	cases := []struct {
		filter, subject string
		want            bool
	}{
		{"mediabot.audio.>", "mediabot.audio.c.p", true},
		{"mediabot.>", "mediabot.events.c", true},
		{">", "mediabot.events.c", true},
		{"mediabot.*.c", "mediabot.events.c", true},
		{"mediabot.audio.*", "mediabot.audio.c.p", false},
		{"mediabot.events.>", "mediabot.audio.c.p", false},
		{"mediabot.events.c.>", "mediabot.events.c", false},
	}
	for _, tc := range cases {
		if got := subjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %v", tc.filter, tc.subject, got)
		}
	}
}
