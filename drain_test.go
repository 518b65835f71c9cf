package mediabot_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

// frameCount counts the frames each participant delivered, and each
// stream (the first frames of a stream may come before a roster names it).
type frameCount struct {
	mu     sync.Mutex
	per    map[string]int
	bySSRC map[uint32]int
}

func (c *frameCount) Frame(f *audio.Frame) {
	c.mu.Lock()
	c.per[f.ParticipantID]++
	if c.bySSRC == nil {
		c.bySSRC = map[uint32]int{}
	}
	c.bySSRC[f.SSRC]++
	c.mu.Unlock()
}

// A drain (what SIGTERM starts) stops answering at once but lets a live
// call finish: every frame of that call is delivered, and Run returns when
// the call has ended.
func TestDrainLosesNoFrameOfALiveCall(t *testing.T) {
	sim := startSim(t)
	frames := &frameCount{per: map[string]int{}}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.DrainTimeout = 20 * time.Second }, mediabot.WithFrameConsumer(frames))
	live := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}, {Voice: graphsim.Voice{FundamentalHz: 600}}}})
	waitLive(t, srv.Bot)
	time.Sleep(500 * time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }() // as SIGTERM
	// The public listener's /readyz, which a load balancer probes.
	testwait.For(t, 5*time.Second, "/readyz to say draining", func() bool {
		code, body := get(t, srv.URL+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining")
	})
	refused, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 400}}}})
	if err != nil {
		t.Fatal(err)
	}
	if refused.Rejected != "busy" {
		t.Errorf("a call offered while draining: rejected %q, want busy", refused.Rejected)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a call was live", err)
	case <-time.After(200 * time.Millisecond):
	}

	res := <-live
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the last call ended")
	}
	if res == nil || res.EndedByBot {
		t.Fatalf("the live call was cut by the drain: %+v", res)
	}
	frames.mu.Lock()
	defer frames.mu.Unlock()
	for _, pid := range res.Participants {
		if got, sent := frames.bySSRC[res.SSRCs[pid]], res.PacketsSent[pid]; got != sent {
			t.Errorf("%s: %d frames delivered, %d packets sent", pid, got, sent)
		}
	}
}
