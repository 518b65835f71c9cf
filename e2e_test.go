package mediabot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

const (
	testTenant = "11111111-2222-3333-4444-555555555555"
	testApp    = "0b0b0b0b-1111-2222-3333-444444444444"
	testSecret = "graphsim-secret"
)

// startBot runs a bot against sim on loopback and returns it with its
// webhook URL; everything stops when the test ends.
func startBot(t *testing.T, sim *graphsim.Sim, mutate func(*mediabot.Config), opts ...mediabot.Option) (*mediabot.Bot, string) {
	t.Helper()
	bot, webhook, stop := startStoppableBot(t, sim, mutate, opts...)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("bot.Run: %v", err)
		}
	})
	return bot, webhook
}

// startStoppableBot is startBot whose stop function ends Run (as SIGTERM
// does: a drain) and returns Run's error; the HTTP server stays up until the
// test ends.
func startStoppableBot(t *testing.T, sim *graphsim.Sim, mutate func(*mediabot.Config), opts ...mediabot.Option) (*mediabot.Bot, string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mediabot.DefaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = "http://" + ln.Addr().String()
	cfg.InstanceID = "test"
	cfg.GraphURL, cfg.TokenURL = sim.GraphURL(), sim.TokenURL()
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = testTenant, testApp, testSecret
	cfg.InboundJWKSURL = sim.JWKSURL()
	cfg.MediaPublicIP = "127.0.0.1" // bound on all addresses, advertised on loopback, as an operator would run it
	cfg.OutDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	bot, err := mediabot.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: bot.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- bot.Run(ctx) }()
	var once sync.Once
	var runErr error
	return bot, cfg.PublicURL + "/api/calls", func() error {
		once.Do(func() { cancel(); runErr = <-ran })
		return runErr
	}
}

func startSim(t *testing.T) *graphsim.Sim {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Config{TenantID: testTenant, ClientID: testApp, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// waitIdle waits until the bot holds no call.
func waitIdle(t *testing.T, bot *mediabot.Bot) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(bot.LiveCalls()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls still live: %v", bot.LiveCalls())
		}
		time.Sleep(20 * time.Millisecond)
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
	var dir string
	bot, webhook := startBot(t, sim, func(c *mediabot.Config) { dir = c.OutDir })

	freqs := []float64{220, 440, 700}
	joins := []time.Duration{0, 500 * time.Millisecond, time.Second}
	sc := graphsim.Scenario{BotURL: webhook, Duration: 4 * time.Second,
		Shares: []graphsim.Share{{Start: 1500 * time.Millisecond, End: 2500 * time.Millisecond, Presenter: 1}}}
	for i, f := range freqs {
		sc.Participants = append(sc.Participants, graphsim.Participant{DisplayName: "Speaker", Voice: graphsim.Voice{FundamentalHz: f, SyllableHz: 3}, JoinAt: joins[i]})
	}
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, bot)

	if res.Answer.MediaConfig.ODataType != "#microsoft.graph.appHostedMediaConfig" {
		t.Fatalf("answered with %q", res.Answer.MediaConfig.ODataType)
	}
	const rate = 16000
	callDir := filepath.Join(dir, res.CallID)
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
	if last := events[len(events)-1]; last.Type == event.CallState && last.ResultInfo == nil {
		t.Errorf("terminated without resultInfo")
	}
	metrics := strings.TrimSuffix(webhook, "/api/calls") + "/metrics"
	sent := 0
	for _, n := range res.PacketsSent {
		sent += n
	}
	if got := scrapeGauge(metrics, `mediabot_rtp_total{counter="packets"}`); got < float64(sent)*0.99 || got > float64(sent) {
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
	busy := scrapeGauge(metrics, fmt.Sprintf(`mediabot_media_reader_busy_seconds_total{port="%d"}`, bot.MediaPort()))
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
	var dir string
	bot, webhook := startBot(t, sim, func(c *mediabot.Config) { dir = c.OutDir })
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: webhook, Duration: time.Second, EstablishedFirst: true,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, bot)
	var states []string
	for _, e := range readEvents(t, filepath.Join(dir, res.CallID, "events.jsonl")) {
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
	bot, webhook := startBot(t, sim, func(c *mediabot.Config) { c.MaxCalls = 1 })
	first := make(chan *graphsim.CallResult, 1)
	go func() {
		res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: webhook, Duration: 2 * time.Second,
			Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(bot.LiveCalls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	second, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: webhook, Duration: time.Second,
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
	waitIdle(t, bot)
}

// /metrics lists the live calls by Graph state while a call is up.
func TestMetricsCountCallsByState(t *testing.T) {
	sim := startSim(t)
	var base string
	bot, webhook := startBot(t, sim, func(c *mediabot.Config) { base = c.PublicURL })
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: webhook, Duration: 2 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	waitLive(t, bot)
	deadline := time.Now().Add(5 * time.Second)
	for scrapeGauge(base+"/metrics", `mediabot_calls{state="established"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal(`mediabot_calls{state="established"} never 1 during the call`)
		}
		time.Sleep(50 * time.Millisecond)
	}
	<-done
	waitIdle(t, bot)
	if v := scrapeGauge(base+"/metrics", `mediabot_calls{state="established"}`); v != -1 {
		t.Errorf("after the call: %v established calls", v)
	}
}

// Every notification delivered twice changes nothing: each state, roster
// change and sharing session is one event, and the audio is whole.
func TestDuplicateNotificationsAreNoOps(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	bot, webhook := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: webhook, Duration: 2 * time.Second, Duplicate: true,
		Shares:       []graphsim.Share{{Start: 500 * time.Millisecond, End: time.Second}},
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}, {Voice: graphsim.Voice{FundamentalHz: 500}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, bot)
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
