package nats

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/event"
)

// Frames and events dropped while NATS is down keep their numbers: the
// consumer sees each loss as a gap in Mediabot-Seq (or in the event
// numbers), places the audio after it by Mediabot-Media-Time, and, once the
// backlog has emptied, reads how many were lost in a sink.error event of the
// call.
func TestNATSDropsLeaveGapsThatTheConsumerSees(t *testing.T) {
	dir := t.TempDir()
	srv := natsServer(t, -1, dir)
	port := serverPort(srv)
	clk := &holdClock{t: time.Unix(1e9, 0)} // no hold runs out in this test
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) {
		c.MaxPending, c.Backlog = 10, 50
		c.AckTimeout, c.now = 300*time.Millisecond, clk.Now
	})
	var mu sync.Mutex
	var reports []event.Event
	s.ReportErrorsTo(func(e event.Event) { // as the bot does: a sink's sink.error goes to every sink, this one too
		mu.Lock()
		reports = append(reports, e)
		mu.Unlock()
		s.Event(e)
	})
	nReports := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(reports)
	}

	s.Event(event.Event{Type: event.CallState, CallID: "c1", State: "established"})
	const before, outage, after = 20, 200, 10
	for i := range before {
		s.Frame(testFrame("c1", "alice", 1, i))
	}
	waitStored(t, srv.ClientURL(), before+1)

	srv.Shutdown()
	srv.WaitForShutdown()
	for i := before; i < before+outage; i++ {
		s.Frame(testFrame("c1", "alice", 1, i))
	}
	for i := range 10 { // a source no roster names yet: held, or dropped (most of them)
		s.Frame(testFrame("c1", "", 9, i))
	}
	if dropped := s.Dropped(); dropped < outage-60 {
		t.Fatalf("Dropped() = %d with a backlog of 50 and %d frames sent while NATS was down", dropped, outage+10)
	}

	natsServer(t, port, dir)
	// The roster names source 9: its held frames go out, its dropped ones
	// leave their numbers.
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "c1", ParticipantID: "bob", SourceID: "9"})
	deadline := time.Now().Add(15 * time.Second)
	for nReports() < 2 && time.Now().Before(deadline) { // the overflow, then the drained backlog
		time.Sleep(20 * time.Millisecond)
	}
	for i := before + outage; i < before+outage+after; i++ {
		s.Frame(testFrame("c1", "alice", 1, i))
	}
	for i := 10; i < 15; i++ {
		s.Frame(testFrame("c1", "bob", 9, i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dropped := s.Dropped()

	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 2 || !strings.Contains(reports[0].Error, "full") {
		t.Fatalf("sink.error reports %+v, want the overflow and then the drained backlog", reports)
	}
	subj := bySubject(stored(t, fmt.Sprintf("nats://127.0.0.1:%d", port)))
	// alice: every frame stored is where Mediabot-Media-Time says, and the
	// missing numbers are the frames dropped.
	var alice []int
	for _, m := range subj["mediabot.audio.c1.alice"] {
		seq, _ := strconv.Atoi(m.Header.Get("Mediabot-Seq"))
		alice = append(alice, seq)
		if mt := m.Header.Get("Mediabot-Media-Time"); mt != strconv.Itoa(20*seq) {
			t.Errorf("alice #%d: Mediabot-Media-Time %s, want %d", seq, mt, 20*seq)
		}
	}
	slices.Sort(alice) // a resend may be stored after later frames
	var missing uint64
	next := 0
	for _, seq := range alice {
		if seq < next {
			t.Fatalf("alice: Mediabot-Seq %d stored twice", seq)
		}
		missing += uint64(seq - next)
		next = seq + 1
	}
	if next != before+outage+after {
		t.Errorf("alice: last Mediabot-Seq %d, want %d", next-1, before+outage+after-1)
	}
	// bob: the frames dropped while his stream was unnamed took their
	// numbers among 0-9 all the same.
	var bob []int
	for _, m := range subj["mediabot.audio.c1.bob"] {
		seq, _ := strconv.Atoi(m.Header.Get("Mediabot-Seq"))
		bob = append(bob, seq)
		if mt := m.Header.Get("Mediabot-Media-Time"); mt != strconv.Itoa(20*seq) {
			t.Errorf("bob #%d: Mediabot-Media-Time %s, want %d", seq, mt, 20*seq)
		}
	}
	slices.Sort(bob)
	if len(slices.Compact(slices.Clone(bob))) != len(bob) || len(bob) < 5 || !slices.Equal(bob[len(bob)-5:], []int{10, 11, 12, 13, 14}) || bob[0] < 0 {
		t.Errorf("bob's Mediabot-Seq %v, want some of 0-9 then 10-14", bob)
	}
	missingBob := uint64(15 - len(bob))
	if missingBob == 0 {
		t.Error("none of bob's frames was dropped while NATS was down")
	}
	// events: established, the overflow's own sink.error and bob joined
	// (each dropped unless the publisher had made room in between), the
	// drained report. A dropped one is a gap in the numbers.
	var numbers []int
	var lost string
	for _, m := range subj["mediabot.events.c1"] {
		id := m.Header.Get("Nats-Msg-Id")
		n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '/')+1:])
		numbers = append(numbers, n)
		if strings.Contains(string(m.Data), "backlog drained") {
			lost = string(m.Data)
		}
	}
	slices.Sort(numbers)
	if len(numbers) == 0 || numbers[len(numbers)-1] != 3 {
		t.Fatalf("event numbers %v, want 0 to 3 in order, gaps allowed", numbers)
	}
	missingEvents := uint64(4 - len(numbers))
	wantLost := fmt.Sprintf("%d frames and %d events of this call were dropped", missing+missingBob, missingEvents)
	if !strings.Contains(lost, wantLost) {
		t.Errorf("drained report %s, want it to say %q", lost, wantLost)
	}
	if missing+missingBob+missingEvents != dropped {
		t.Errorf("%d frames missing from alice, %d from bob and %d events; Dropped() = %d", missing, missingBob, missingEvents, dropped)
	}
}
