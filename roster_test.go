package mediabot_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// deltaRoster is a deltaParticipants notification adding one participant.
func deltaRoster(callID string, seq int, participantID string) []byte {
	return fmt.Appendf(nil, `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{
		"@odata.type":"#microsoft.graph.commsNotification","changeType":"updated",
		"resourceUrl":"/communications/calls/%s/participants",
		"resourceData":{"@odata.type":"#microsoft.graph.deltaParticipants","sequenceNumber":%d,"participants":[
			{"@odata.type":"#microsoft.graph.participant","id":"%s",
			 "info":{"identity":{"guest":{"displayName":"Guest %d"}}},
			 "mediaStreams":[{"mediaType":"audio","sourceId":"%d","direction":"sendReceive"}],
			 "isMuted":false,"isInLobby":false}]}}]}`, callID, seq, participantID, seq, 700+seq)
}

// With delta rosters, each notification adds to the roster; a gap in their
// sequence numbers means one was missed, and the roster is rebuilt from
// Graph's GET .../participants (which does not know the delta-only guests:
// they leave).
func TestDeltaRosterGapRebuildsTheRoster(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.DeltaRoster = true }, mediabot.WithEventConsumer(log))
	webhook := srv.Webhook
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: webhook, Duration: 3 * time.Second,
		Participants: []graphsim.Participant{{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: 300}}}})
	callID := waitLive(t, srv.Bot)
	testwait.For(t, 5*time.Second, "the roster", func() bool {
		return len(log.of(callID, event.ParticipantJoined)) >= 2 // the bot and Alice, from graphsim's roster
	})
	send := func(seq int, id string) {
		if status, err := sim.Notify(context.Background(), webhook, deltaRoster(callID, seq, id)); err != nil || status != http.StatusAccepted {
			t.Fatalf("delta %d: %d %v", seq, status, err)
		}
	}
	send(1, "guest-1")
	send(2, "guest-2")
	send(2, "guest-2") // repeated: a no-op
	send(5, "guest-5") // 3 and 4 missed: rebuild
	res := <-done
	waitIdle(t, srv)

	joined := map[string]int{}
	for _, e := range log.of(callID, event.ParticipantJoined) {
		joined[e.ParticipantID]++
	}
	if joined["guest-1"] != 1 || joined["guest-2"] != 1 || joined["guest-5"] != 0 {
		t.Errorf("joined %v: want guest-1 and guest-2 once, guest-5 not (the rebuild replaced it)", joined)
	}
	left := map[string]bool{}
	for _, e := range log.of(callID, event.ParticipantLeft) {
		left[e.ParticipantID] = true
	}
	if !left["guest-1"] || !left["guest-2"] || left[res.Participants[0]] {
		t.Errorf("left %v: want the delta-only guests gone and Alice still there", left)
	}
	if o := res.Answer.CallOptions; o == nil || !o.IsDeltaRosterEnabled {
		t.Error("the answer did not ask for delta rosters")
	}
}

// Audio that arrives before the roster names its speaker is kept under
// ssrc-{n} and renamed once the roster comes: nothing is lost, and no
// ssrc-*.wav is left behind.
func TestRosterAfterMediaLosesNothing(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	dir := srv.OutDir
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second, RosterAfter: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}, {Voice: graphsim.Voice{FundamentalHz: 600}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	files, _ := filepath.Glob(filepath.Join(dir, res.CallID, "*.wav"))
	if len(files) != 2 {
		t.Fatalf("files %v, want one WAV per participant", files)
	}
	for i, pid := range res.Participants {
		pcm, rate := wavtest.Read(t, filepath.Join(dir, res.CallID, pid+".wav"))
		if got := float64(len(pcm)-leadingSilence(pcm)) / float64(rate); got < 1.9 {
			t.Errorf("participant %d: %.2f s kept of 2 s", i, got)
		}
	}
}
