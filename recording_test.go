package mediabot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// A policy-based recording invitation is answered inside Graph's 5 s window
// with participantCapacity; the bot tells Graph it records once media
// flows, and frames held until Graph confirmed are kept, in order: the
// recording is whole.
func TestPolicyRecordingCallIsRecordedOnceConfirmed(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.ParticipantCapacity = 20 }, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second, PolicyRecording: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if res.Answer.ParticipantCapacity != 20 || res.AnswerLatency > 5*time.Second {
		t.Errorf("answer: participantCapacity %d after %s; want 20 within 5 s", res.Answer.ParticipantCapacity, res.AnswerLatency)
	}
	status := log.of(res.CallID, event.RecordingStatus)
	if len(status) != 1 || status[0].Status != "recording" {
		t.Fatalf("recording.status events %+v, want one: recording", status)
	}
	pcm, rate := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, res.Participants[0]+".wav"))
	if got := float64(len(pcm)-leadingSilence(pcm)) / float64(rate); got < 1.9 {
		t.Errorf("%.2f s recorded of a 2 s call: frames held before the confirmation were lost", got)
	}
	if n := len(log.of(res.CallID, event.CallIncoming)); n != 1 {
		t.Errorf("%d call.incoming events (held until the confirmation, then released)", n)
	}
}

// When Graph refuses the recording status, nothing of the call is kept by
// any sink, the operator hears why, and the bot leaves the call. What the
// call said before the refusal reaches no one; what it says after (Graph's
// states as the bot leaves, its last event) reaches the in-process
// consumers only.
func TestPolicyRecordingRefusedKeepsNothing(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	sim.FailNext(http.MethodPost, "/updateRecordingStatus", http.StatusForbidden, 0, 10)
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second, PolicyRecording: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if !res.EndedByBot {
		t.Error("the bot stayed in a call it may not record")
	}
	if entries, _ := os.ReadDir(filepath.Join(srv.OutDir, res.CallID)); len(entries) != 0 {
		t.Errorf("files kept of an unconfirmed recording: %v", entries)
	}
	status := log.of(res.CallID, event.RecordingStatus)
	if len(status) != 1 || status[0].Status != "failed" {
		t.Errorf("recording.status events %+v, want one: failed", status)
	}
	if n := len(log.of(res.CallID, event.CallIncoming)); n != 0 {
		t.Errorf("%d call.incoming events of an unconfirmed recording reached the consumers", n)
	}
	// In the order the consumers saw them: nothing the call said before the
	// refusal, then only what it said after, ending with its one
	// call.state terminated, with the bot's reason.
	seen := log.of(res.CallID, event.RecordingStatus, event.CallState, event.ParticipantJoined)
	if len(seen) == 0 || seen[0].Type != event.RecordingStatus {
		t.Errorf("events %+v: want recording.status failed before any call.state or participant.joined (nothing held before the refusal released)", seen)
	}
	states := log.of(res.CallID, event.CallState)
	terminated := 0
	for _, e := range states {
		if e.State == "terminated" {
			terminated++
		}
	}
	if last := len(states) - 1; last < 0 || terminated != 1 || states[last].State != "terminated" || states[last].Reason != "recording refused" {
		t.Errorf("call.state events %+v: want them to end with one terminated, reason %q", states, "recording refused")
	}
}

// joining is a participantJoiningNotification for a policy-recording call.
func joining(callID string) []byte {
	return []byte(`{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification",
		"changeType":"created","resourceUrl":"/communications/calls/` + callID + `",
		"resourceData":{"@odata.type":"#microsoft.graph.participantJoiningNotification","call":{"@odata.type":"#microsoft.graph.call","id":"` + callID + `"}}}]}`)
}

func left(callID string) []byte {
	return []byte(`{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification",
		"changeType":"created","resourceUrl":"/communications/calls/` + callID + `",
		"resourceData":{"@odata.type":"#microsoft.graph.participantLeftNotification","participantId":"p-2"}}]}`)
}

// With participantCapacity 2, the policy group's joins are answered in the
// HTTP response: accepted while the call records fewer than 2, rejected busy
// past that, accepted again once one left.
func TestParticipantJoiningAnsweredInTheResponse(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.ParticipantCapacity = 2 })
	webhook := srv.Webhook
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: webhook, Duration: 2 * time.Second, PolicyRecording: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	callID := waitLive(t, srv.Bot)
	ask := func(body []byte) string {
		status, reply, err := sim.NotifyReply(context.Background(), webhook, body)
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusAccepted {
			return "202"
		}
		var r struct {
			Type   string `json:"@odata.type"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(reply, &r); err != nil || status != http.StatusOK {
			t.Fatalf("reply %d %q", status, reply)
		}
		return r.Type + " " + r.Reason
	}
	got := []string{ask(joining(callID)), ask(joining(callID)), ask(left(callID)), ask(joining(callID))}
	want := []string{
		"#microsoft.graph.acceptJoinResponse ",
		"#microsoft.graph.rejectJoinResponse busy",
		"202",
		"#microsoft.graph.acceptJoinResponse ",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d: %q, want %q", i, got[i], want[i])
		}
	}
	<-done
}
