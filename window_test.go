package mediabot_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

// A call whose answer window has passed is not answered late: the window
// runs from the notification's arrival, and a slow decision forfeits it.
func TestNoAnswerAfterTheWindow(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.AnswerWindow = 500 * time.Millisecond },
		mediabot.WithPolicy(func(mediabot.IncomingCall) mediabot.Decision {
			time.Sleep(700 * time.Millisecond) // a policy too slow for the window
			return mediabot.Decision{Action: mediabot.Answer}
		}))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, AnswerWindow: 2 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if !errors.Is(err, graphsim.ErrNotAnswered) {
		t.Fatalf("PlayCall: %v, want ErrNotAnswered", err)
	}
	if res.Answer.MediaConfig.ODataType != "" {
		t.Error("the bot answered after its window")
	}
	waitIdle(t, srv)
}

// A keepAlive that Graph answers 404 means the call is gone: it ends here
// too, with no dead call lingering.
func TestKeepAlive404EndsTheCall(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.KeepAliveInterval = 300 * time.Millisecond }, mediabot.WithEventConsumer(log))
	sim.FailNext(http.MethodPost, "/keepAlive", http.StatusNotFound, 0, 1)
	// The call may end before graphsim's media has connected (a busy
	// machine): its media leg's refusal is no failure here.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 4 * time.Second,
			Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	}()
	callID := waitLive(t, srv.Bot)
	testwait.For(t, 10*time.Second, "the call to end after a 404 keepAlive", func() bool { return len(srv.Bot.Calls()) == 0 })
	states := log.of(callID, event.CallState)
	if len(states) == 0 || states[len(states)-1].State != "terminated" {
		t.Errorf("states %+v, want the call terminated", states)
	}
	<-done
}
