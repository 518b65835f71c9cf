package mediabot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

const (
	testTenant = mediabottest.TenantID
	testApp    = mediabottest.ClientID
	testSecret = mediabottest.ClientSecret
)

// startBot runs a bot against sim on loopback, with a file sink in a
// temporary folder; everything stops when the test ends, and Run's error
// fails the test.
func startBot(t *testing.T, sim *graphsim.Sim, configure func(*mediabot.Config), opts ...mediabot.Option) *mediabottest.Server {
	t.Helper()
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, Configure: configure, OutDir: t.TempDir(), BotOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("bot.Run: %v", err)
		}
	})
	return srv
}

func startSim(t *testing.T) *graphsim.Sim {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Config{TenantID: mediabottest.TenantID, ClientID: mediabottest.ClientID, ClientSecret: mediabottest.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// waitIdle waits until the bot holds no call.
func waitIdle(t *testing.T, srv *mediabottest.Server) {
	t.Helper()
	if err := srv.WaitIdle(15 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func readEvents(t *testing.T, path string) []event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("events.jsonl line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// A call end to end: graphsim rings the bot, the bot answers with a blob,
// three participants speak on their own sections over real UDP, and each
// participant's WAV holds that participant's voice, on the media clock.
func TestCallEndToEndThreeParticipants(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)

	freqs := []float64{220, 440, 700}
	joins := []time.Duration{0, 500 * time.Millisecond, time.Second}
	sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: 4 * time.Second,
		Shares: []graphsim.Share{{Start: 1500 * time.Millisecond, End: 2500 * time.Millisecond, Presenter: 1}}}
	for i, f := range freqs {
		sc.Participants = append(sc.Participants, graphsim.Participant{DisplayName: "Speaker", Voice: graphsim.Voice{FundamentalHz: f, SyllableHz: 3}, JoinAt: joins[i]})
	}
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)

	if res.Answer.MediaConfig.ODataType != "#microsoft.graph.appHostedMediaConfig" {
		t.Fatalf("answered with %q", res.Answer.MediaConfig.ODataType)
	}
	const rate = 16000
	callDir := filepath.Join(srv.OutDir, res.CallID)
	for i, pid := range res.Participants {
		pcm, gotRate := wavtest.Read(t, filepath.Join(callDir, pid+".wav"))
		if gotRate != rate {
			t.Fatalf("%s: rate %d", pid, gotRate)
		}
		// The file spans the media clock from 0 to the end of the call:
		// the participant's own speech plus the silence before it joined.
		wantSec := sc.Duration.Seconds()
		gotSec := float64(len(pcm)) / rate
		if gotSec < wantSec*0.95 || gotSec > wantSec*1.05+0.3 {
			t.Errorf("participant %d: %.2f s of audio, want about %.2f s", i, gotSec, wantSec)
		}
		joinSample := int(joins[i].Seconds() * rate)
		if i > 0 {
			if lead := audiotest.RMS(pcm[:joinSample*8/10]); lead > 1 {
				t.Errorf("participant %d: RMS %.1f before joining, want silence", i, lead)
			}
		}
		speech := pcm[joinSample+rate/5:]
		if d := audiotest.Dominant(speech, rate, freqs); d != i {
			t.Errorf("participant %d: dominant frequency %.0f Hz, want %.0f Hz", i, freqs[d], freqs[i])
		}
		if audiotest.RMS(speech) < 500 {
			t.Errorf("participant %d: speech RMS %.0f, too quiet", i, audiotest.RMS(speech))
		}
	}

	events := readEvents(t, filepath.Join(callDir, "events.jsonl"))
	count := map[event.Type]int{}
	var states []string
	for _, e := range events {
		count[e.Type]++
		if e.Type == event.CallState {
			states = append(states, e.State)
		}
		if e.CallID != res.CallID {
			t.Errorf("event %s for call %q", e.Type, e.CallID)
		}
	}
	if count[event.CallIncoming] != 1 {
		t.Errorf("%d call.incoming events", count[event.CallIncoming])
	}
	if count[event.StreamStats] != 3 || count[event.StreamStarted] != 3 {
		t.Errorf("stream events: started %d, stats %d; want 3 each", count[event.StreamStarted], count[event.StreamStats])
	}
	if count[event.SharingStarted] != 1 || count[event.SharingEnded] != 1 {
		t.Errorf("sharing events: %d started, %d ended", count[event.SharingStarted], count[event.SharingEnded])
	}
	if count[event.ParticipantJoined] < 3 {
		t.Errorf("%d participant.joined events", count[event.ParticipantJoined])
	}
	want := []string{"establishing", "established", "terminating", "terminated"}
	if len(states) != len(want) {
		t.Fatalf("call states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("call states %v, want %v", states, want)
		}
	}
	// The call's last event is its call.state terminated, with Graph's
	// resultInfo: stream.stats and sharing.ended come before it.
	if last := events[len(events)-1]; last.Type != event.CallState || last.State != "terminated" || last.ResultInfo == nil {
		t.Errorf("last event %s %q (resultInfo %v), want call.state terminated with Graph's resultInfo", last.Type, last.State, last.ResultInfo)
	}
	metrics := srv.OpsURL + "/metrics"
	sent := 0
	for _, n := range res.PacketsSent {
		sent += n
	}
	if got := scrapeGauge(metrics, `mediabot_rtp_packets_total`); got < float64(sent)*0.99 || got > float64(sent) {
		t.Errorf("metrics: %v packets received, graphsim sent %d", got, sent)
	}
	if got := scrapeGauge(metrics, `mediabot_media_packets_total{result="srtp"}`); got < float64(sent)*0.99 || got > float64(sent) {
		t.Errorf("metrics: %v SRTP packets delivered by the media ports, graphsim sent %d", got, sent)
	}
	if got := scrapeGauge(metrics, `mediabot_media_packets_total{result="undecryptable"}`); got != 0 {
		t.Errorf("metrics: %v undecryptable packets from an honest peer", got)
	}
	// Every packet took the reader at least a microsecond (an Opus decode
	// alone takes several), and the reader cannot have been busy longer
	// than the call lasted.
	busy := scrapeGauge(metrics, fmt.Sprintf(`mediabot_media_reader_busy_seconds_total{port="%d"}`, srv.Bot.MediaPorts()[0]))
	if busy < float64(sent)*1e-6 || busy > sc.Duration.Seconds() {
		t.Errorf("metrics: the media reader was busy %v s for %d packets of a %s call", busy, sent, sc.Duration)
	}
	if got := scrapeGauge(metrics, "mediabot_streams_active"); got != 0 {
		t.Errorf("metrics: %v streams active after the call", got)
	}
}

// Graph may send "established" before "establishing": the late
// "establishing" is not an event, and the state never goes backwards.
func TestEstablishedBeforeEstablishingIsNotABackwardsStep(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second, EstablishedFirst: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	var states []string
	for _, e := range readEvents(t, filepath.Join(srv.OutDir, res.CallID, "events.jsonl")) {
		if e.Type == event.CallState {
			states = append(states, e.State)
		}
	}
	if got := strings.Join(states, ","); got != "established,terminating,terminated" {
		t.Errorf("states %s, want established,terminating,terminated", got)
	}
}

// Above --max-calls an incoming call is rejected busy, and the call in
// progress is not disturbed.
func TestMaxCallsRejectsBusy(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.MaxCalls = 1 })
	first := make(chan *graphsim.CallResult, 1)
	go func() {
		res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second,
			Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	testwait.For(t, 5*time.Second, "the first call", func() bool { return len(srv.Bot.Calls()) > 0 })
	second, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 500}}}})
	if err != nil {
		t.Fatal(err)
	}
	if second.Rejected != "busy" {
		t.Errorf("second call: rejected %q, want busy", second.Rejected)
	}
	res := <-first
	if res == nil || res.Rejected != "" || res.PacketsSent[res.Participants[0]] == 0 {
		t.Errorf("first call disturbed: %+v", res)
	}
	waitIdle(t, srv)
}

// /metrics lists the live calls by Graph state while a call is up.
func TestMetricsCountCallsByState(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	metrics := srv.OpsURL + "/metrics"
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	waitLive(t, srv.Bot)
	testwait.For(t, 5*time.Second, `mediabot_calls{state="established"} to be 1 during the call`, func() bool {
		return scrapeGauge(metrics, `mediabot_calls{state="established"}`) == 1
	})
	<-done
	waitIdle(t, srv)
	if v := scrapeGauge(metrics, `mediabot_calls{state="established"}`); v != 0 {
		t.Errorf("after the call: %v established calls", v)
	}
}

// Every notification delivered twice changes nothing: each state, roster
// change and sharing session is one event, and the audio is whole.
func TestDuplicateNotificationsAreNoOps(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second, Duplicate: true,
		Shares:       []graphsim.Share{{Start: 500 * time.Millisecond, End: time.Second}},
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}, {Voice: graphsim.Voice{FundamentalHz: 500}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	var states []string
	for _, e := range log.of(res.CallID, event.CallState) {
		states = append(states, e.State)
	}
	if got := strings.Join(states, ","); got != "establishing,established,terminating,terminated" {
		t.Errorf("states %s", got)
	}
	if n := len(log.of(res.CallID, event.ParticipantJoined)); n != 3 {
		t.Errorf("%d participant.joined events, want 3 (the bot and two participants)", n)
	}
	if s, e := len(log.of(res.CallID, event.SharingStarted)), len(log.of(res.CallID, event.SharingEnded)); s != 1 || e != 1 {
		t.Errorf("sharing: %d started, %d ended; want 1 and 1", s, e)
	}
}
