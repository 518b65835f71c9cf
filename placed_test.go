package mediabot_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/joinclient"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/signaling"
)

// speakers are a placed call's participants, each on its own pitch.
func speakers(freqs ...float64) []graphsim.Participant {
	var ps []graphsim.Participant
	for _, f := range freqs {
		ps = append(ps, graphsim.Participant{DisplayName: "Speaker", Voice: graphsim.Voice{FundamentalHz: f, SyllableHz: 3}})
	}
	return ps
}

// operator is the operator API client of a test bot, on its operations
// listener.
func operator(srv *mediabottest.Server) *joinclient.Client {
	return &joinclient.Client{BotURL: srv.OpsURL}
}

// waitPlaced waits for graphsim's side of the next call placed to d.
func waitPlaced(t *testing.T, d *graphsim.Destination) *graphsim.PlacedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := d.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkVoices checks each participant's WAV against its source: about
// long seconds of audio after the call's first packet, on its own pitch.
func checkVoices(t *testing.T, callDir string, res *graphsim.PlacedResult, freqs []float64, long time.Duration) {
	t.Helper()
	const rate = 16000
	for i, pid := range res.Participants {
		pcm, gotRate := wavtest.Read(t, filepath.Join(callDir, pid+".wav"))
		if gotRate != rate {
			t.Fatalf("participant %d: rate %d", i, gotRate)
		}
		lead := leadingSilence(pcm)
		wantSec, gotSec := long.Seconds(), float64(len(pcm)-lead)/rate
		if gotSec < wantSec*0.95 || gotSec > wantSec*1.05 || lead > rate/2 {
			t.Errorf("participant %d: %.2f s of audio after %d samples of silence, want %.2f s ± 5 %%", i, gotSec, lead, wantSec)
		}
		speech := pcm[min(lead+rate/5, len(pcm)):]
		if d := audiotest.Dominant(speech, rate, freqs); d != i {
			t.Errorf("participant %d: dominant frequency %.0f Hz, want %.0f Hz", i, freqs[d], freqs[i])
		}
		if rms := audiotest.RMS(speech); rms < 500 {
			t.Errorf("participant %d: speech RMS %.0f, too quiet", i, rms)
		}
	}
}

// eventTypes lists a call's events.jsonl types, and its call states.
func eventTypes(t *testing.T, callDir string) (types []event.Type, states []string, all []event.Event) {
	t.Helper()
	all = readEvents(t, filepath.Join(callDir, "events.jsonl"))
	for _, e := range all {
		types = append(types, e.Type)
		if e.Type == event.CallState {
			states = append(states, e.State)
		}
	}
	return types, states, all
}

// The bot joins a scheduled meeting by its join link through the operator
// API: Graph is asked with chatInfo and organizerMeetingInfo, the meeting's
// two speakers land in their own WAVs, a phone number is invited into the
// call, and the call ends as an answered one does.
func TestJoinMeetingByLinkEndToEnd(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	freqs := []float64{220, 500}
	const long = 3 * time.Second
	m := sim.AddMeeting(graphsim.Callee{Scenario: graphsim.Scenario{Duration: long, Participants: speakers(freqs...),
		Shares: []graphsim.Share{{Start: time.Second, End: 2 * time.Second, Presenter: 1}}}})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := operator(srv).Place(ctx, mediabot.JoinRequest{JoinURL: m.JoinURL})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID == "" || info.Direction != "outgoing" || info.TenantID != m.TenantID {
		t.Errorf("placed call %+v, want an id, outgoing, the meeting's tenant", info)
	}
	if err := operator(srv).Follow(ctx, info.ID, func(string) {}); err != nil {
		t.Fatal(err)
	}
	op, err := bot.Invite(ctx, info.ID, signaling.PhoneTarget("+14255550199"))
	if err != nil || op == nil || op.Status != "completed" {
		t.Errorf("invite into the placed call: %+v, %v", op, err)
	}
	res := waitPlaced(t, m.Destination)
	waitIdle(t, srv)

	req := res.Request
	if req.ChatInfo == nil || req.ChatInfo.ThreadID != m.ThreadID || signaling.MeetingInfoType(req.MeetingInfo) != signaling.ODataOrganizerMeetingInfo ||
		req.TenantID != m.TenantID || req.MediaConfig.ODataType != signaling.ODataAppHostedMediaConfig || !strings.Contains(req.CallbackURI, "/api/calls/") {
		t.Errorf("create-call request %+v", req)
	}
	callDir := filepath.Join(srv.OutDir, info.ID)
	checkVoices(t, callDir, res, freqs, long)
	types, states, _ := eventTypes(t, callDir)
	if len(types) == 0 || types[0] != event.CallPlaced {
		t.Errorf("events %v, want call.placed first", types)
	}
	if want := "establishing established terminating terminated"; strings.Join(states, " ") != want {
		t.Errorf("call states %v, want %s", states, want)
	}
	if got, ok := bot.Call(info.ID); !ok || got.State != "terminated" || got.ResultInfo == nil {
		t.Errorf("the ended call: %+v (%v), want terminated with Graph's resultInfo", got, ok)
	}
}

// In a joined meeting people come and go: the roster names a late joiner
// when it arrives and drops a leaver when it goes; the leaver's WAV is
// silent once it has left, the joiner's before it came.
func TestJoinedMeetingPeopleComeAndGo(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	freqs := []float64{250, 550}
	ps := speakers(freqs...)
	ps[0].LeaveAt = 2 * time.Second
	ps[1].JoinAt = time.Second
	m := sim.AddMeeting(graphsim.Callee{Scenario: graphsim.Scenario{Duration: 3 * time.Second, Participants: ps}})
	info, err := bot.Join(context.Background(), mediabot.JoinRequest{JoinURL: m.JoinURL})
	if err != nil {
		t.Fatal(err)
	}
	res := waitPlaced(t, m.Destination)
	waitIdle(t, srv)
	callDir := filepath.Join(srv.OutDir, info.ID)
	leaver, joiner := res.Participants[0], res.Participants[1]
	var joinedAt, leftAt int64 = -1, -1
	_, _, all := eventTypes(t, callDir)
	for _, e := range all {
		switch {
		case e.Type == event.ParticipantJoined && e.ParticipantID == joiner:
			joinedAt = e.MediaTimeMs
		case e.Type == event.ParticipantLeft && e.ParticipantID == leaver:
			leftAt = e.MediaTimeMs
		}
	}
	// The media clock starts with the first packet, a little after
	// graphsim's clock: allow for it and for a busy machine.
	if joinedAt < 700 || joinedAt > 1800 {
		t.Errorf("the late joiner joined at %d ms, want about 1000", joinedAt)
	}
	if leftAt < 1700 || leftAt > 2800 {
		t.Errorf("the leaver left at %d ms, want about 2000", leftAt)
	}
	const rate = 16000
	pcm, _ := wavtest.Read(t, filepath.Join(callDir, leaver+".wav"))
	if len(pcm) > rate*23/10 && audiotest.RMS(pcm[rate*23/10:]) > 1 {
		t.Error("the leaver's WAV is not silent after it left")
	}
	if d := audiotest.Dominant(pcm[rate/5:min(len(pcm), rate*18/10)], rate, freqs); d != 0 {
		t.Error("the leaver's WAV is not on its pitch")
	}
	pcm, _ = wavtest.Read(t, filepath.Join(callDir, joiner+".wav"))
	if audiotest.RMS(pcm[:rate*7/10]) > 1 {
		t.Error("the joiner's WAV is not silent before it came")
	}
	if d := audiotest.Dominant(pcm[rate*13/10:], rate, freqs); d != 1 {
		t.Error("the joiner's WAV is not on its pitch")
	}
}

// The bot joins a meeting by its join meeting id and passcode (the digits
// as an invitation groups them), and records both speakers.
func TestJoinMeetingByIDEndToEnd(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	freqs := []float64{300, 650}
	const long = 2 * time.Second
	m := sim.AddMeeting(graphsim.Callee{Scenario: graphsim.Scenario{Duration: long, Participants: speakers(freqs...)}})
	spaced := m.JoinMeetingID[:3] + " " + m.JoinMeetingID[3:]
	info, err := bot.Join(context.Background(), mediabot.JoinRequest{JoinMeetingID: spaced, Passcode: m.Passcode})
	if err != nil {
		t.Fatal(err)
	}
	res := waitPlaced(t, m.Destination)
	waitIdle(t, srv)
	var mi signaling.JoinMeetingIDMeetingInfo
	if err := json.Unmarshal(res.Request.MeetingInfo, &mi); err != nil || mi.JoinMeetingID != m.JoinMeetingID || mi.Passcode != m.Passcode || res.Request.TenantID != testTenant {
		t.Errorf("meetingInfo %s tenant %q, want the meeting's id and passcode, the bot's tenant", res.Request.MeetingInfo, res.Request.TenantID)
	}
	checkVoices(t, filepath.Join(srv.OutDir, info.ID), res, freqs, long)
}

// The bot calls a Teams user, then transfers the call to another user:
// Graph reports transferring and ends the bot's leg.
func TestCallUserThenTransfer(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	const user = "22222222-0000-4000-8000-0000000000c1"
	freqs := []float64{440, 180}
	d := sim.AddUser(user, graphsim.Callee{Scenario: graphsim.Scenario{Duration: 10 * time.Second,
		Participants: []graphsim.Participant{{UserID: user, DisplayName: "Callee", Voice: graphsim.Voice{FundamentalHz: freqs[0], SyllableHz: 3}}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := bot.Join(ctx, mediabot.JoinRequest{UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator(srv).Follow(ctx, info.ID, func(string) {}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // some speech first
	const next = "22222222-0000-4000-8000-0000000000c2"
	if _, err := bot.Transfer(ctx, info.ID, signaling.UserTarget(next, testTenant)); err != nil {
		t.Fatal(err)
	}
	res := waitPlaced(t, d)
	waitIdle(t, srv)
	if to := res.TransferredTo; to == nil || to.Identity == nil || to.Identity.User == nil || to.Identity.User.ID != next {
		t.Errorf("graphsim saw the call transferred to %+v, want user %s", to, next)
	}
	if u := res.Request.Targets[0].Identity.User; u == nil || u.ID != user {
		t.Errorf("create-call targets %+v, want user %s", res.Request.Targets, user)
	}
	_, states, _ := eventTypes(t, filepath.Join(srv.OutDir, info.ID))
	if want := "establishing established transferring transferAccepted terminating terminated"; strings.Join(states, " ") != want {
		t.Errorf("call states %v, want %s", states, want)
	}
	pcm, _ := wavtest.Read(t, filepath.Join(srv.OutDir, info.ID, res.Participants[0]+".wav"))
	if sec := float64(len(pcm)) / 16000; sec < 1 || sec > 9 {
		t.Errorf("%.2f s recorded before the transfer", sec)
	}
	if audiotest.Dominant(pcm, 16000, freqs) != 0 {
		t.Error("the callee's WAV is not on the callee's pitch")
	}
}

// The bot calls a phone number as its application instance, as Graph
// requires; the callee's G.711 audio is recorded. Graph's first
// notification overtakes the 201 reply, and nothing is lost by it.
func TestCallPhoneNumberEndToEnd(t *testing.T) {
	sim := startSim(t)
	const instance = "33333333-0000-4000-8000-0000000000a1"
	srv := startBot(t, sim, func(c *mediabot.Config) { c.ApplicationInstanceID = instance })
	bot := srv.Bot
	const phone = "+14255550123"
	freqs := []float64{350, 150}
	const long = 2 * time.Second
	d := sim.AddPhone(phone, graphsim.Callee{NotifyBeforeReply: true, Scenario: graphsim.Scenario{Duration: long,
		Participants: []graphsim.Participant{{Phone: phone, Voice: graphsim.Voice{FundamentalHz: freqs[0], SyllableHz: 3}}}}})
	info, err := bot.Join(context.Background(), mediabot.JoinRequest{Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	res := waitPlaced(t, d)
	waitIdle(t, srv)
	src := res.Request.Source
	if src == nil || src.Identity == nil || src.Identity.ApplicationInstance == nil || src.Identity.ApplicationInstance.ID != instance {
		t.Errorf("create-call source %+v, want application instance %s", src, instance)
	}
	callDir := filepath.Join(srv.OutDir, info.ID)
	checkVoices(t, callDir, res, freqs, long)
	_, states, _ := eventTypes(t, callDir)
	if want := "establishing established terminating terminated"; strings.Join(states, " ") != want {
		t.Errorf("call states %v, want %s", states, want)
	}
	metrics := srv.OpsURL + "/metrics"
	if got := scrapeGauge(metrics, "mediabot_notifications_ignored_total"); got != 0 {
		t.Errorf("%v notifications ignored, want the early one kept for the call", got)
	}
}

// A meeting's lobby holds the bot: the bot says so (CallInfo.InLobby, a
// call.lobby event), waits, and once admitted records the meeting.
func TestJoinWaitsInTheLobbyThenRecords(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	freqs := []float64{260, 600}
	const long = 2 * time.Second
	m := sim.AddMeeting(graphsim.Callee{Lobby: 1500 * time.Millisecond, Scenario: graphsim.Scenario{Duration: long, Participants: speakers(freqs...)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := bot.Join(ctx, mediabot.JoinRequest{JoinURL: m.JoinURL})
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	inLobbyOnStatus := false
	if err := operator(srv).Follow(ctx, info.ID, func(s string) {
		said = append(said, s)
		if strings.Contains(s, "waiting to be admitted") {
			for _, c := range getStatus(t, srv.OpsURL).Calls {
				inLobbyOnStatus = inLobbyOnStatus || (c.ID == info.ID && c.InLobby && c.Direction == "outgoing")
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !inLobbyOnStatus {
		t.Error("/status.json did not show the placed call in the lobby")
	}
	if !strings.Contains(strings.Join(said, "; "), "lobby") {
		t.Errorf("following the call said %q, nothing about the lobby", said)
	}
	res := waitPlaced(t, m.Destination)
	waitIdle(t, srv)
	callDir := filepath.Join(srv.OutDir, info.ID)
	checkVoices(t, callDir, res, freqs, long)
	var lobby []string
	_, _, all := eventTypes(t, callDir)
	for _, e := range all {
		if e.Type == event.CallLobby {
			lobby = append(lobby, e.State)
		}
	}
	if strings.Join(lobby, " ") != "waiting admitted" {
		t.Errorf("call.lobby events %v, want waiting then admitted", lobby)
	}
}

// A lobby nobody opens: the bot leaves after --lobby-timeout and says why.
func TestJoinLeavesALobbyNobodyOpens(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.LobbyTimeout = time.Second })
	bot := srv.Bot
	m := sim.AddMeeting(graphsim.Callee{Lobby: -1})
	info, err := bot.Join(context.Background(), mediabot.JoinRequest{JoinURL: m.JoinURL})
	if err != nil {
		t.Fatal(err)
	}
	res := waitPlaced(t, m.Destination)
	waitIdle(t, srv)
	if !res.EndedByBot || !res.Admitted.IsZero() {
		t.Errorf("graphsim: ended by bot %v, admitted %v; want the bot to leave unadmitted", res.EndedByBot, res.Admitted)
	}
	var timedOut *event.Event
	_, _, all := eventTypes(t, filepath.Join(srv.OutDir, info.ID))
	for i, e := range all {
		if e.Type == event.CallLobby && e.State == "timedOut" {
			timedOut = &all[i]
		}
	}
	if timedOut == nil || !strings.Contains(timedOut.Reason, "--lobby-timeout") {
		t.Errorf("no call.lobby timedOut event naming --lobby-timeout: %+v", timedOut)
	}
	if got, _ := bot.Call(info.ID); !got.Ended || got.InLobby || !strings.Contains(got.EndReason, "lobby") {
		t.Errorf("the call after the lobby timeout: %+v, want ended, not in the lobby, with the bot's reason", got)
	}
}

// Graph's refusal reaches the operator as 502 with Graph's own error body;
// a meeting that has not started ends with Graph's resultInfo, which the
// operator can read after the call is gone.
func TestJoinRefusedOrEndedSaysWhy(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op := operator(srv)

	m := sim.AddMeeting(graphsim.Callee{})
	_, err := op.Place(ctx, mediabot.JoinRequest{JoinMeetingID: m.JoinMeetingID, Passcode: "wrong"})
	var refused *joinclient.Error
	if !errors.As(err, &refused) || refused.Status != http.StatusBadGateway || refused.Code != "Forbidden" ||
		!strings.Contains(refused.Message, "passcode") || refused.InnerError == nil || refused.InnerError.RequestID == "" {
		t.Errorf("wrong passcode: %v, want 502 with Graph's 403 body and request id", err)
	}
	_, err = op.Place(ctx, mediabot.JoinRequest{UserID: "22222222-0000-4000-8000-0000000000ff"})
	if !errors.As(err, &refused) || refused.Status != http.StatusBadGateway || refused.Code != "NotFound" {
		t.Errorf("unknown user: %v, want 502 with Graph's 404 body", err)
	}

	notStarted := &signaling.ResultInfo{Code: 404, Subcode: 7520, Message: "The meeting has not started."}
	late := sim.AddMeeting(graphsim.Callee{EndBeforeMedia: notStarted})
	info, err := op.Place(ctx, mediabot.JoinRequest{JoinURL: late.JoinURL})
	if err != nil {
		t.Fatal(err)
	}
	err = op.Follow(ctx, info.ID, func(string) {})
	if !errors.Is(err, joinclient.ErrCallEnded) || !strings.Contains(err.Error(), "404/7520 The meeting has not started.") {
		t.Errorf("following a call to a meeting not started: %v, want Graph's resultInfo", err)
	}
	metrics := srv.OpsURL + "/metrics"
	if got := scrapeGauge(metrics, `mediabot_calls_placed_total{result="refused"}`); got != 2 {
		t.Errorf("calls placed refused = %v, want 2", got)
	}
}

// A call being placed counts toward --max-calls while Graph has not
// answered yet: a burst of joins cannot overshoot it.
func TestPlacementsInFlightCountTowardMaxCalls(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.MaxCalls = 1 })
	bot := srv.Bot
	const first, second = "22222222-0000-4000-8000-0000000000f1", "22222222-0000-4000-8000-0000000000f2"
	d := sim.AddUser(first, graphsim.Callee{Scenario: graphsim.Scenario{Duration: time.Second}})
	sim.AddUser(second, graphsim.Callee{Scenario: graphsim.Scenario{Duration: time.Second}})
	sim.FailNext(http.MethodPost, "/communications/calls", http.StatusTooManyRequests, time.Second, 1) // the first waits a second
	placed := make(chan error, 1)
	go func() {
		_, err := bot.Join(context.Background(), mediabot.JoinRequest{UserID: first})
		placed <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := bot.Join(context.Background(), mediabot.JoinRequest{UserID: second}); !errors.Is(err, mediabot.ErrNotPlacing) || !strings.Contains(err.Error(), "--max-calls") {
		t.Errorf("a second join while the first is being placed: %v, want ErrNotPlacing naming --max-calls", err)
	}
	if err := <-placed; err != nil {
		t.Fatalf("the first join: %v", err)
	}
	waitPlaced(t, d)
	waitIdle(t, srv)
}
