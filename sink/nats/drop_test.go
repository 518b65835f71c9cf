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
	for i := range 10 { // a source no roster names yet: held, and dropped too
		s.Frame(testFrame("c1", "", 9, i))
	}
	dropped := s.Dropped()
	if dropped < outage-60 {
		t.Fatalf("Dropped() = %d with a backlog of 50 and %d frames sent while NATS was down", dropped, outage+10)
	}

	natsServer(t, port, dir)
	deadline := time.Now().Add(15 * time.Second)
	for nReports() < 2 && time.Now().Before(deadline) { // the overflow, then the drained backlog
		time.Sleep(20 * time.Millisecond)
	}
	s.Event(event.Event{Type: event.ParticipantJoined, CallID: "c1", ParticipantID: "bob", SourceID: "9"})
	for i := before + outage; i < before+outage+after; i++ {
		s.Frame(testFrame("c1", "alice", 1, i))
	}
	for i := 10; i < 15; i++ {
		s.Frame(testFrame("c1", "bob", 9, i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 2 || !strings.Contains(reports[0].Error, "full") {
		t.Fatalf("sink.error reports %+v, want the overflow and then the drained backlog", reports)
	}
	subj := bySubject(stored(t, fmt.Sprintf("nats://127.0.0.1:%d", port)))
	// alice: every frame stored is where Mediabot-Media-Time says, and the
	// missing numbers are the frames dropped.
	var missing uint64
	next := 0
	for _, m := range subj["mediabot.audio.c1.alice"] { // stream order is Mediabot-Seq order here
		seq, _ := strconv.Atoi(m.Header.Get("Mediabot-Seq"))
		if seq < next {
			t.Fatalf("alice: Mediabot-Seq %d after %d", seq, next-1)
		}
		missing += uint64(seq - next)
		next = seq + 1
		if mt := m.Header.Get("Mediabot-Media-Time"); mt != strconv.Itoa(20*seq) {
			t.Errorf("alice #%d: Mediabot-Media-Time %s, want %d", seq, mt, 20*seq)
		}
	}
	if next != before+outage+after {
		t.Errorf("alice: last Mediabot-Seq %d, want %d", next-1, before+outage+after-1)
	}
	// bob: his 10 frames dropped while unnamed took numbers 0-9.
	var bob []int
	for _, m := range subj["mediabot.audio.c1.bob"] {
		seq, _ := strconv.Atoi(m.Header.Get("Mediabot-Seq"))
		bob = append(bob, seq)
	}
	if want := []int{10, 11, 12, 13, 14}; !slices.Equal(bob, want) {
		t.Errorf("bob's Mediabot-Seq %v, want %v", bob, want)
	}
	// events: established, the overflow's own sink.error (dropped unless the
	// publisher had made room for it in between), the drained report, bob
	// joined. A dropped one is a gap in the numbers.
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
	if len(numbers) == 0 || numbers[len(numbers)-1] != 3 || !slices.IsSorted(numbers) {
		t.Fatalf("event numbers %v, want 0 to 3 in order, gaps allowed", numbers)
	}
	missingEvents := uint64(4 - len(numbers))
	wantLost := fmt.Sprintf("%d frames and %d events of this call were dropped", missing+10, missingEvents)
	if !strings.Contains(lost, wantLost) {
		t.Errorf("drained report %s, want it to say %q", lost, wantLost)
	}
	if missing+10+missingEvents != dropped {
		t.Errorf("%d frames missing from alice, 10 from bob and %d events; Dropped() = %d", missing, missingEvents, dropped)
	}
}
