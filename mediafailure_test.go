package mediabot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/call"
)

// An established call whose media goes silent on the wire for the bound,
// and that Graph does not end within call.MediaLossGrace, is ended for
// real: the bot hangs up with DELETE, says why in a media.failed event, and
// frees the call.
func TestMediaThatStopsEndsTheCall(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.MediaIdleTimeout = time.Second }, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 8 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300},
			Talk: []graphsim.Span{{Start: 0, End: 500 * time.Millisecond}}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if !res.EndedByBot {
		t.Fatal("the bot did not hang up a call without media")
	}
	failed := log.of(res.CallID, event.MediaFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Reason, "no media packets") {
		t.Fatalf("media.failed events %+v", failed)
	}
	// The loss is seen 1-1.5 s after the last packet (the watchdog looks
	// every quarter of the bound), then Graph has the grace to end the call.
	grace := call.MediaLossGrace.Milliseconds()
	if ms := failed[0].MediaTimeMs; ms < 1400+grace || ms > 4000+grace {
		t.Errorf("media.failed at %d ms, want about %.1f-%.1f s (last packet at 0.5 s, bound 1 s, grace %s)", ms, 1.5+float64(grace)/1000, 2.5+float64(grace)/1000, call.MediaLossGrace)
	}
}
