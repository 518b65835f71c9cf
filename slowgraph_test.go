package mediabot_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

// A slow Graph does not stall a call: while Graph takes 5 s to answer the
// policy-recording call's updateRecordingStatus, a roster notification of
// that call is applied at once (the action runs off the call's worker).
func TestASlowGraphDoesNotStallTheCall(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	sim.SlowNext(http.MethodPost, "/updateRecordingStatus", 5*time.Second, 1)
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 8 * time.Second, PolicyRecording: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	var callID string
	testwait.For(t, 10*time.Second, "the call's media", func() bool {
		for _, c := range srv.Bot.Calls() {
			if !c.MediaStart.IsZero() {
				callID = c.ID
			}
		}
		return callID != ""
	})
	time.Sleep(200 * time.Millisecond) // updateRecordingStatus is on its way, and Graph is slow
	sent := time.Now()
	if status, err := sim.Notify(context.Background(), srv.Bot.CallbackURI(), deltaRoster(callID, 1, "zed-0000-4000-8000-000000000001")); err != nil || status != http.StatusAccepted {
		t.Fatalf("roster notification: %d %v", status, err)
	}
	testwait.For(t, 10*time.Second, "the roster applied", func() bool {
		for _, c := range srv.Bot.Status().Calls {
			for _, p := range c.Participants {
				if p.ID == "zed-0000-4000-8000-000000000001" {
					return true
				}
			}
		}
		return false
	})
	took := time.Since(sent)
	t.Logf("roster applied %s after its notification, Graph answering updateRecordingStatus in 5 s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the roster waited %s for a slow Graph action", took)
	}
	<-done
}
