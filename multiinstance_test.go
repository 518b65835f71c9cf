package mediabot_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// Two instances share the work as behind a load balancer: graphsim offers 10
// calls to them in turn, each call's later notifications go to the
// callbackUri of the instance that answered it, and one consumer on NATS
// receives every call's audio, each frame once.
func TestTwoInstancesOneNATSConsumer(t *testing.T) {
	sim := startSim(t)
	natsURL := natstest.Start(t, -1, t.TempDir()).ClientURL()
	var bots [2]*mediabottest.Server
	var webhooks [2]string
	for i := range bots {
		// NATS is the only sink: no file sink.
		instance := "bot" + strconv.Itoa(i)
		ns, err := natssink.New(natssink.Config{URL: natsURL, InstanceID: instance})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, Configure: func(c *mediabot.Config) { c.InstanceID = instance },
			BotOptions: []mediabot.Option{mediabot.WithSink(ns)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Errorf("bot.Run: %v", err)
			}
		})
		bots[i], webhooks[i] = srv, srv.Webhook
	}
	answeredBy := make([]string, 10)
	results := make([]*graphsim.CallResult, 10)
	var wg sync.WaitGroup
	for n := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(n) * 50 * time.Millisecond)
			res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: webhooks[n%2], Duration: 2 * time.Second,
				Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}, {Voice: graphsim.Voice{FundamentalHz: 500}}}})
			if err != nil {
				t.Error(err)
				return
			}
			results[n], answeredBy[n] = res, res.Answer.CallbackURI
		}()
	}
	wg.Wait()
	for _, b := range bots {
		waitIdle(t, b)
	}
	for n, cb := range answeredBy {
		if want := "/api/calls/bot" + strconv.Itoa(n%2); len(cb) < len(want) || cb[len(cb)-len(want):] != want {
			t.Errorf("call %d answered with callbackUri %q, want the offered instance's (%s)", n, cb, want)
		}
	}

	// One consumer reads every frame the stream holds.
	seen := map[string]map[string]bool{} // subject -> seqs
	instances := map[string]bool{}
	eachNATSMessage(t, natsURL, "mediabot.audio.>", func(msg jetstream.Msg) {
		subj, seq := msg.Subject(), msg.Headers().Get("Mediabot-Seq")
		if seen[subj] == nil {
			seen[subj] = map[string]bool{}
		}
		if seen[subj][seq] {
			t.Fatalf("%s seq %s delivered twice", subj, seq)
		}
		seen[subj][seq] = true
		instances[msg.Headers().Get("Mediabot-Instance")] = true
	})
	for n, res := range results {
		if res == nil {
			continue
		}
		for _, pid := range res.Participants {
			// Frames that came more than 2 s before the roster named
			// their source (a busy machine) went out as ssrc-{n}.
			prefix := "mediabot.audio." + res.CallID + "."
			subjects := []string{prefix + pid, prefix + "ssrc-" + strconv.FormatUint(uint64(res.SSRCs[pid]), 10)}
			frames := 0
			for _, subj := range subjects {
				frames += len(seen[subj])
				for i := range len(seen[subj]) {
					if !seen[subj][strconv.Itoa(i)] {
						t.Errorf("call %d %s: Mediabot-Seq %d missing", n, subj, i)
						break
					}
				}
			}
			if sent := res.PacketsSent[pid]; frames < sent*98/100 || frames > sent {
				t.Errorf("call %d %s: %d frames on NATS, %d packets sent", n, pid, frames, sent)
			}
		}
	}
	if !instances["bot0"] || !instances["bot1"] || len(instances) != 2 {
		t.Errorf("frames from instances %v, want bot0 and bot1", instances)
	}
}
