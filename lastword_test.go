package mediabot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// checkLastWord checks that events, one consumer's view of a call, end
// with its one call.state terminated, carrying Graph's resultInfo (subcode)
// and the bot's reason ("" when Graph ended the call).
func checkLastWord(t *testing.T, who string, events []event.Event, subcode int, reason string) {
	t.Helper()
	if len(events) == 0 {
		t.Errorf("%s: no event", who)
		return
	}
	terminated := 0
	for _, e := range events {
		if e.Type == event.CallState && e.State == "terminated" {
			terminated++
		}
	}
	last := events[len(events)-1]
	switch {
	case terminated != 1:
		t.Errorf("%s: %d call.state terminated events, want 1", who, terminated)
	case last.Type != event.CallState || last.State != "terminated":
		t.Errorf("%s: the last event is %s %s, want call.state terminated", who, last.Type, last.State)
	case last.ResultInfo == nil || last.ResultInfo.Subcode != subcode:
		t.Errorf("%s: terminated with resultInfo %+v, want Graph's, subcode %d", who, last.ResultInfo, subcode)
	case last.Reason != reason:
		t.Errorf("%s: terminated with reason %q, want %q", who, last.Reason, reason)
	}
}

// However a call ends (Graph ends it, the operator hangs up, the bot
// rejects it), its event stream ends with exactly one call.state
// terminated, with Graph's resultInfo, in the file, on NATS and for the
// in-process consumers alike.
func TestEveryCallEndsWithOneTerminated(t *testing.T) {
	speaker := []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}
	cases := []struct {
		name    string
		policy  mediabot.AnswerPolicy
		sc      graphsim.Scenario
		end     func(*mediabottest.Server)
		subcode int
		reason  string
	}{
		{name: "graph ends it", sc: graphsim.Scenario{Duration: time.Second, Participants: speaker, Shares: []graphsim.Share{{Start: 0, End: 2 * time.Second}}},
			subcode: 5010},
		{name: "the operator hangs up", sc: graphsim.Scenario{Duration: 20 * time.Second, Participants: speaker},
			end: func(srv *mediabottest.Server) {
				var id string
				testwait.For(t, 10*time.Second, "a call with media", func() bool {
					for _, c := range srv.Bot.Calls() {
						if !c.MediaStart.IsZero() {
							id = c.ID
						}
					}
					return id != ""
				})
				if err := srv.Bot.Hangup(context.Background(), id); err != nil {
					t.Error(err)
				}
			},
			subcode: 5001, reason: "hung up by the operator"},
		{name: "the bot rejects it", policy: func(mediabot.IncomingCall) mediabot.Decision {
			return mediabot.Decision{Action: mediabot.Reject, Reason: "busy"}
		}, sc: graphsim.Scenario{Participants: speaker}, subcode: 0 /* graphsim's 603/0 */, reason: "rejected: busy"},
	}
	sim := startSim(t)
	natsURL := natstest.Start(t, -1, t.TempDir()).ClientURL()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &eventLog{}
			opts := []mediabot.Option{mediabot.WithEventConsumer(log), natsSink(t, natsURL)}
			if tc.policy != nil {
				opts = append(opts, mediabot.WithPolicy(tc.policy))
			}
			srv := startBot(t, sim, nil, opts...)
			sc := tc.sc
			sc.BotURL = srv.Webhook
			if tc.end != nil {
				go tc.end(srv)
			}
			res, err := sim.PlayCall(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			waitIdle(t, srv)
			checkLastWord(t, "events.jsonl", readEvents(t, filepath.Join(srv.OutDir, res.CallID, "events.jsonl")), tc.subcode, tc.reason)
			checkLastWord(t, "NATS", natsEvents(t, natsURL, res.CallID), tc.subcode, tc.reason)
			checkLastWord(t, "event consumer", log.of(res.CallID, allTypes...), tc.subcode, tc.reason)
			if info, ok := srv.Bot.Call(res.CallID); !ok || !info.Ended || info.ResultInfo == nil {
				t.Errorf("Call(%s) = %+v, %v: want it ended, with Graph's resultInfo", res.CallID, info, ok)
			}
		})
	}
}

// allTypes are the event types of a call, for eventLog.of.
var allTypes = []event.Type{event.CallIncoming, event.CallPlaced, event.CallLobby, event.CallState,
	event.ParticipantJoined, event.ParticipantUpdated, event.ParticipantLeft, event.StreamStarted, event.StreamStats,
	event.SharingStarted, event.SharingEnded, event.RecordingStatus, event.MediaFailed, event.SinkError}

// At a call's normal end the media processor may close DTLS a moment
// before Graph's terminated: that is no media failure, and the bot does
// not hang up a call Graph is ending; Graph's resultInfo is its last word.
func TestMediaClosedJustBeforeGraphEndsIsNoFailure(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second,
		MediaClosesFirst: 700 * time.Millisecond,
		Participants:     []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if failed := log.of(res.CallID, event.MediaFailed); len(failed) != 0 {
		t.Errorf("media.failed %q at the call's normal end", failed[0].Reason)
	}
	if res.EndedByBot {
		t.Error("the bot hung up (DELETE) a call Graph was ending")
	}
	checkLastWord(t, "event consumer", log.of(res.CallID, allTypes...), 5010, "")
}
