package mediabot_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
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
	bot, webhook := startBot(t, sim, func(c *mediabot.Config) { c.DeltaRoster = true }, mediabot.WithEventConsumer(log))
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: webhook, Duration: 3 * time.Second,
		Participants: []graphsim.Participant{{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: 300}}}})
	callID := waitLive(t, bot)
	deadline := time.Now().Add(5 * time.Second)
	for len(log.of(callID, event.ParticipantJoined)) < 2 { // the bot and Alice, from graphsim's roster
		if time.Now().After(deadline) {
			t.Fatal("no roster")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	waitIdle(t, bot)

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
