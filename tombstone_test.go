package mediabot_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// The bot remembers an ended call for ten minutes (Bot.Call): its record,
// not its closed media session with every stream's decoder and rings. The
// live heap calls of two speakers leave behind once they have ended is
// about 20 KiB a call (mostly the empty buffer of its work queue); with
// their sessions it was over 350 KiB (found by the soak benchmark: at 100
// calls a minute, ten minutes of them held 350 MiB).
func TestEndedCallsKeepNoMedia(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil, mediabot.WithLoadFunc(func() mediabot.LoadState {
		return mediabot.LoadState{Level: mediabot.LoadNormal, Reason: "steady (test)", MachineIdle: 1}
	}))
	play := func(calls int) {
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				if _, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
					Participants: []graphsim.Participant{{Voice: graphsim.Cast[0].Voice}, {Voice: graphsim.Cast[1].Voice}}}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		waitIdle(t, srv)
	}
	play(2) // graphsim's encodings, the pools
	before := liveHeap()
	const calls = 16
	play(calls)
	perCall := (liveHeap() - before) / calls
	t.Logf("%d ended calls remembered: %.1f KiB of live heap each", calls, perCall/1024)
	if perCall > 64<<10 {
		t.Errorf("each ended call keeps %.0f KiB of live heap, want its record only (under 64 KiB)", perCall/1024)
	}
}

// liveHeap is the heap's live bytes after two collections: what a
// finalizer or a sync.Pool's victim cache kept through the first is gone.
func liveHeap() float64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64())
}
