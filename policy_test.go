package mediabot_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/signaling"
)

// A policy may take a call without this bot's media: the answer carries
// serviceHostedMediaConfig with the prompts to prefetch (the seed's
// Example 1), and the call lives on notifications alone.
func TestPolicyAnswersWithServiceHostedMedia(t *testing.T) {
	sim := startSim(t)
	prefetch := []signaling.MediaInfo{{URI: "https://cdn.contoso.com/beep.wav", ResourceID: "1D6DE2D4-CD51-4309-8DAA-70768651088E"}}
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log),
		mediabot.WithPolicy(func(mediabot.IncomingCall) mediabot.Decision {
			return mediabot.Decision{Action: mediabot.AnswerServiceHosted, PreFetchMedia: prefetch}
		}))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	mc := res.Answer.MediaConfig
	if mc.ODataType != signaling.ODataServiceHostedMediaConfig || mc.Blob != "" || len(mc.PreFetchMedia) != 1 || mc.PreFetchMedia[0] != prefetch[0] {
		t.Errorf("answer mediaConfig %+v", mc)
	}
	if n := len(log.of(res.CallID, event.StreamStarted)); n != 0 {
		t.Errorf("%d streams on a service-hosted call", n)
	}
	if states := log.of(res.CallID, event.CallState); len(states) == 0 || states[len(states)-1].State != "terminated" {
		t.Errorf("call states %+v", states)
	}
}

// A caller Graph sends encrypted (the app lacks the permission to read it)
// is kept as sent and flagged on call.incoming; the call is answered anyway.
func TestEncryptedSourceIsFlaggedAndTheCallGoesOn(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Source:       &signaling.ParticipantInfo{Encrypted: "ZW5jcnlwdGVkIGNhbGxlcg=="},
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if res.Answer.MediaConfig.Blob == "" {
		t.Fatal("the call was not answered")
	}
	incoming := log.of(res.CallID, event.CallIncoming)
	if len(incoming) != 1 || !incoming[0].SourceEncrypted {
		t.Fatalf("call.incoming %+v, want one flagged sourceEncrypted", incoming)
	}
	var src string
	if err := json.Unmarshal(incoming[0].Source, &src); err != nil || src != "ZW5jcnlwdGVkIGNhbGxlcg==" {
		t.Errorf("source %s, want the encrypted string as sent", incoming[0].Source)
	}
}

// With --redirect-targets, a call the default policy does not take (the
// instance is full) is redirected there rather than rejected.
func TestFullInstanceRedirectsToTheConfiguredTargets(t *testing.T) {
	sim := startSim(t)
	targets := mediabot.ParseTargets([]string{"+14255550100", "11111111-0000-4000-8000-000000000002"}, testTenant)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.MaxCalls = 1 },
		mediabot.WithPolicy(mediabot.DefaultPolicy(1, targets...)),
		mediabot.WithLoadFunc(func() mediabot.LoadState { return overloaded }))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != "" || len(res.Redirected) != 2 {
		t.Fatalf("rejected %q, redirected to %d targets; want redirected to 2", res.Rejected, len(res.Redirected))
	}
	if id := res.Redirected[0].Identity; id == nil || id.Phone == nil || id.Phone.ID != "+14255550100" {
		t.Errorf("first target %+v, want the phone number", res.Redirected[0].Identity)
	}
	if id := res.Redirected[1].Identity; id == nil || id.User == nil || id.User.ID != "11111111-0000-4000-8000-000000000002" || id.User.TenantID != testTenant {
		t.Errorf("second target %+v, want the Teams user in the tenant", res.Redirected[1].Identity)
	}
}
