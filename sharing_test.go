package mediabot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// seedCallID is the call Graph's content-sharing example names.
const seedCallID = "421f4c00-4436-4c3a-9d9a-c4924cf98e67"

// eventLog collects events in memory.
type eventLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *eventLog) Event(e event.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) of(callID string, types ...event.Type) []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Event
	for _, e := range l.events {
		for _, t := range types {
			if e.Type == t && e.CallID == callID {
				out = append(out, e)
			}
		}
	}
	return out
}

// playInBackground plays sc and returns a channel with its result.
func playInBackground(t *testing.T, sim *graphsim.Sim, sc graphsim.Scenario) <-chan *graphsim.CallResult {
	done := make(chan *graphsim.CallResult, 1)
	go func() {
		res, err := sim.PlayCall(context.Background(), sc)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	return done
}

// waitLive returns the id of the first live call (held, not closing) the
// bot holds.
func waitLive(t *testing.T, bot *mediabot.Bot) string {
	t.Helper()
	var id string
	testwait.For(t, 5*time.Second, "a live call", func() bool {
		for _, c := range bot.Calls() {
			if !c.Closing {
				id = c.ID
				return true
			}
		}
		return false
	})
	return id
}

// The seed's two content-sharing notifications, verbatim but pointed at the
// call under test, open and close one sharing session; a created without
// its deleted is closed by the end of the call.
func TestSeedSharingNotificationsOnALiveCall(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	webhook := srv.Webhook
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: webhook, Duration: 2 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	callID := waitLive(t, srv.Bot)
	time.Sleep(300 * time.Millisecond)
	send := func(name string) {
		body := bytes.ReplaceAll(seedExample(t, name), []byte(seedCallID), []byte(callID))
		if status, err := sim.Notify(context.Background(), webhook, body); err != nil || status != http.StatusAccepted {
			t.Fatalf("%s: status %d, err %v", name, status, err)
		}
	}
	send("example2_sharing_created.json")
	send("example2_sharing_created.json") // a repeat is a no-op
	time.Sleep(200 * time.Millisecond)
	send("example2_sharing_deleted.json")
	// A second session that is never deleted: the call's end closes it.
	body := bytes.ReplaceAll(seedExample(t, "example2_sharing_created.json"), []byte(seedCallID), []byte(callID))
	body = bytes.ReplaceAll(body, []byte("2765eb15"), []byte("99999999"))
	if _, err := sim.Notify(context.Background(), webhook, body); err != nil {
		t.Fatal(err)
	}
	<-done
	waitIdle(t, srv)

	started := log.of(callID, event.SharingStarted)
	ended := log.of(callID, event.SharingEnded)
	if len(started) != 2 || len(ended) != 2 {
		t.Fatalf("%d started, %d ended; want 2 and 2", len(started), len(ended))
	}
	if started[0].SessionID != "2765eb15-01f8-47c6-b12b-c32111a4a86f" || ended[0].SessionID != started[0].SessionID {
		t.Errorf("sessions %q / %q", started[0].SessionID, ended[0].SessionID)
	}
	if d := ended[0].DurationMs; d == nil || *d < 150 || *d > 1000 {
		t.Errorf("first session lasted %v ms, want about 200", d)
	}
	if ended[1].SessionID != "99999999-01f8-47c6-b12b-c32111a4a86f" || ended[1].StartUnknown {
		t.Errorf("the call's end did not close the open session: %+v", ended[1])
	}
	states := log.of(callID, event.CallState)
	if last := states[len(states)-1]; last.State != "terminated" || ended[1].MediaTimeMs < last.MediaTimeMs-100 {
		t.Errorf("open session closed at %d ms, call ended at %d ms", ended[1].MediaTimeMs, last.MediaTimeMs)
	}
}

// onset is the media time (ms) at which speech starts in pcm at or after
// fromMs: the first 20 ms window loud enough to be speech.
func onset(pcm []int16, rate int, fromMs int64) int64 {
	win := rate / 50
	for i := int(fromMs) * rate / 1000; i+win <= len(pcm); i += win / 4 {
		if audiotest.RMS(pcm[i:i+win]) > 1000 {
			return int64(i) * 1000 / int64(rate)
		}
	}
	return -1
}

// graphsim shares twice while the presenter speaks only during the shares:
// sharing.started lines up with the onset of the presenter's speech in the
// WAV (both on the media clock) within 100 ms, and the active-sessions metric
// shows the share while it lasts.
func TestSharingEventsLineUpWithAudio(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	webhook := srv.Webhook
	shares := []graphsim.Share{{Start: time.Second, End: 2 * time.Second}, {Start: 2500 * time.Millisecond, End: 3500 * time.Millisecond}}
	presenter := graphsim.Participant{Voice: graphsim.Voice{FundamentalHz: 400}}
	for _, s := range shares {
		presenter.Talk = append(presenter.Talk, graphsim.Span{Start: s.Start, End: s.End})
	}
	sc := graphsim.Scenario{BotURL: webhook, Duration: 4 * time.Second, Shares: shares,
		Participants: []graphsim.Participant{presenter, {Voice: graphsim.Voice{FundamentalHz: 250}}}}

	var maxActive float64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if v := scrapeGauge(srv.OpsURL+"/metrics", "mediabot_sharing_sessions_active"); v > maxActive {
					maxActive = v
				}
			}
		}
	}()
	res, err := sim.PlayCall(context.Background(), sc)
	close(stop)
	<-polled
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if maxActive != 1 {
		t.Errorf("mediabot_sharing_sessions_active peaked at %v, want 1", maxActive)
	}
	started := log.of(res.CallID, event.SharingStarted)
	ended := log.of(res.CallID, event.SharingEnded)
	if len(started) != 2 || len(ended) != 2 {
		t.Fatalf("%d started, %d ended; want 2 and 2", len(started), len(ended))
	}
	pcm, rate := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, res.Participants[0]+".wav"))
	var from int64
	for i, s := range started {
		if s.ParticipantID != res.Participants[0] {
			t.Errorf("share %d: presenter %q, want %q", i, s.ParticipantID, res.Participants[0])
		}
		speech := onset(pcm, rate, from)
		if diff := speech - s.MediaTimeMs; diff < -100 || diff > 100 {
			t.Errorf("share %d started at %d ms, the presenter's speech at %d ms: %d ms apart", i, s.MediaTimeMs, speech, diff)
		}
		if d := ended[i].DurationMs; d == nil || *d < 900 || *d > 1100 {
			t.Errorf("share %d lasted %v ms, want about 1000", i, d)
		}
		from = ended[i].MediaTimeMs + 100
	}
}

// With --sharing-notifications off the answer does not ask for them, and
// graphsim, like Graph, sends none.
func TestSharingNotificationsOff(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, func(c *mediabot.Config) { c.NoSharingNotifications = true }, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Shares:       []graphsim.Share{{Start: 200 * time.Millisecond, End: 600 * time.Millisecond}},
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if o := res.Answer.CallOptions; o != nil && o.IsContentSharingNotificationEnabled {
		t.Error("the answer asked for content-sharing notifications")
	}
	if n := len(log.of(res.CallID, event.SharingStarted, event.SharingEnded)); n != 0 || len(res.SharesSent) != 0 {
		t.Errorf("%d sharing events, %d shares sent", n, len(res.SharesSent))
	}
}

// scrapeGauge reads one unlabelled gauge from a Prometheus text page.
func scrapeGauge(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}
