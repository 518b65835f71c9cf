package mediabot_test

import (
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/testwait"
)

// clockJumpEnv turns on the test that sets the system clock.
const clockJumpEnv = "MEDIABOT_CLOCK_JUMP"

// wallClock steps the system's wall clock, and steps it back by as much
// when the test ends, whatever happened.
type wallClock struct {
	t      *testing.T
	mu     sync.Mutex
	offset time.Duration
}

func newWallClock(t *testing.T) *wallClock {
	w := &wallClock{t: t}
	if err := w.step(0); err != nil {
		t.Skipf("cannot set the system clock (%v): run as root, or with CAP_SYS_TIME", err)
	}
	t.Cleanup(func() {
		w.mu.Lock()
		back := -w.offset
		w.mu.Unlock()
		if err := w.step(back); err != nil {
			t.Errorf("the system clock is %v off: %v", -back, err)
		}
	})
	return w
}

func (w *wallClock) step(d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	tv := syscall.NsecToTimeval(time.Now().Add(d).UnixNano())
	if err := syscall.Settimeofday(&tv); err != nil {
		return err
	}
	w.offset += d
	return nil
}

// The wall clock is set an hour forward while the bot's answer is on its
// way (Graph holds it 1.5 s), then back an hour while the call's media
// flows. The media processor's answer is still inside the session's
// window, the call is not ended by any of the bot's timers, its WAV holds
// the whole call on its pitch, every event's media time is inside the
// call, and the speaker's one stretch of speech is not cut by the jumps.
//
// It sets the system clock, so it runs only with MEDIABOT_CLOCK_JUMP=1 (as
// root or with CAP_SYS_TIME) on a machine where that is acceptable.
func TestClockJumpsLeaveTheCallAlone(t *testing.T) {
	if os.Getenv(clockJumpEnv) == "" {
		t.Skipf("sets the system clock: run with %s=1 as root", clockJumpEnv)
	}
	clock := newWallClock(t)
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	sim.SlowNext(http.MethodPost, "/answer", 1500*time.Millisecond, 1)
	freqs := []float64{300}
	const long = 5 * time.Second
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: long, Participants: speakers(freqs...)})

	waitLive(t, srv.Bot)
	if err := clock.step(time.Hour); err != nil {
		t.Fatal(err)
	}
	var callID string
	testwait.For(t, 10*time.Second, "the call's media", func() bool {
		for _, c := range srv.Bot.Calls() {
			if !c.MediaStart.IsZero() {
				callID = c.ID
			}
		}
		return callID != ""
	})
	time.Sleep(2 * time.Second)
	if err := clock.step(-time.Hour); err != nil {
		t.Fatal(err)
	}
	res := <-done
	waitIdle(t, srv)
	if res == nil {
		t.Fatal("the call did not play")
	}
	if res.EndedByBot {
		t.Error("the bot ended the call: one of its timers followed the wall clock")
	}
	callDir := filepath.Join(srv.OutDir, res.CallID)
	checkVoices(t, callDir, &graphsim.PlacedResult{CallResult: *res}, freqs, long)
	_, _, all := eventTypes(t, callDir)
	for _, e := range all {
		if e.MediaTimeMs < 0 || e.MediaTimeMs > (long+2*time.Second).Milliseconds() {
			t.Errorf("%s at media time %d ms, outside the %v call", e.Type, e.MediaTimeMs, long)
		}
	}
	if n := len(log.of(res.CallID, event.SpeechStarted)); n != 1 {
		t.Errorf("%d stretches of speech, want the one the speaker talked", n)
	}
}
