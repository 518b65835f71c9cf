package nats

import (
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
)

// What the README says of ssrc-{n} subjects: a stream no roster names is
// held 2 s, then published as ssrc-{n} for as long as no roster names it;
// the participant.joined/updated event whose sourceId is n names it, and
// its later frames go under the participant id; what went out as ssrc-{n}
// stays there.
func TestNATSSSRCSubjectLastsUntilARosterNamesTheSource(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	clk := &holdClock{t: time.Unix(1e9, 0)}
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.now = clk.Now })
	var unnamed, named []*audio.Frame
	for i := range 10 {
		unnamed = append(unnamed, testFrame("c1", "", 4242, i))
		s.Frame(unnamed[i])
	}
	clk.Advance(natsHold)
	waitStored(t, srv.ClientURL(), 10)
	clk.Advance(time.Minute) // long after the hold: still ssrc-4242
	for i := 10; i < 20; i++ {
		unnamed = append(unnamed, testFrame("c1", "", 4242, i))
		s.Frame(unnamed[i])
	}
	s.Event(event.Event{Type: event.ParticipantUpdated, CallID: "c1", ParticipantID: "alice", SourceID: "4242"})
	for i := 20; i < 25; i++ { // the frames still carry no participant id: the roster names them
		f := testFrame("c1", "", 4242, i)
		named = append(named, f)
		s.Frame(f)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	subj := bySubject(stored(t, srv.ClientURL()))
	checkFrames(t, subj["mediabot.audio.c1.ssrc-4242"], "c1", "ssrc-4242", unnamed)
	checkFrames(t, subj["mediabot.audio.c1.alice"], "c1", "alice", named)
}
