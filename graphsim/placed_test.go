package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

const (
	placedTenant = "7f3e2a10-5c4b-4d6e-8f90-a1b2c3d4e5f6"
	placedApp    = "0b0b0b0b-1c1c-4d2d-8e3e-4f4f4f4f4f4f"
	placedSecret = "placed-secret"
)

// placedEnv is graphsim with a Graph client acting for the bot and a
// callback server recording the notifications.
type placedEnv struct {
	sim    *Sim
	client *signaling.Client
	cb     *recorder
}

func newPlacedEnv(t *testing.T) *placedEnv {
	t.Helper()
	sim, err := Start(Config{TenantID: placedTenant, ClientID: placedApp, ClientSecret: placedSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	client, err := signaling.NewClient(signaling.ClientConfig{GraphURL: sim.GraphURL(), TokenURL: sim.TokenURL(),
		ClientID: placedApp, ClientSecret: placedSecret, DefaultTenant: placedTenant})
	if err != nil {
		t.Fatal(err)
	}
	return &placedEnv{sim: sim, client: client, cb: newRecorder(t)}
}

// request is a create-call request with service-hosted media and the
// recorder as callback; the caller names the destination.
func (e *placedEnv) request() signaling.CreateCallRequest {
	return signaling.CreateCallRequest{ODataType: signaling.ODataCall, CallbackURI: e.cb.srv.URL + "/callback",
		RequestedModalities: []string{"audio"},
		MediaConfig:         signaling.MediaConfig{ODataType: signaling.ODataServiceHostedMediaConfig}}
}

func (e *placedEnv) create(t *testing.T, req signaling.CreateCallRequest) *signaling.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := e.client.CreateCall(ctx, "", req)
	if err != nil {
		t.Fatal("create call:", err)
	}
	return call
}

// recorder is the bot's callback: it accepts every notification and hands
// them over in order.
type recorder struct {
	srv *httptest.Server
	ch  chan signaling.CommsNotification
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{ch: make(chan signaling.CommsNotification, 256)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var batch signaling.CommsNotifications
		if err := json.NewDecoder(req.Body).Decode(&batch); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, n := range batch.Value {
			r.ch <- n
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) next(t *testing.T) signaling.CommsNotification {
	t.Helper()
	select {
	case n := <-r.ch:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5 s")
		return signaling.CommsNotification{}
	}
}

// nextCall is the next notification, which must be about the call itself.
func (r *recorder) nextCall(t *testing.T, changeType, state string) signaling.Call {
	t.Helper()
	n := r.next(t)
	calls, err := n.Calls()
	if err != nil || len(calls) != 1 || n.ChangeType != changeType || calls[0].State != state {
		t.Fatalf("notification %s %s %s, want a call %s with state %s", n.ChangeType, n.ResourceURL, n.ResourceData, changeType, state)
	}
	return calls[0]
}

// nextRoster is the next notification, which must be a full roster.
func (r *recorder) nextRoster(t *testing.T) []signaling.Participant {
	t.Helper()
	n := r.next(t)
	parts, _, err := n.Participants()
	if err != nil || !strings.HasSuffix(n.ResourceURL, "/participants") || len(parts) == 0 {
		t.Fatalf("notification %s %s %s, want a roster", n.ChangeType, n.ResourceURL, n.ResourceData)
	}
	return parts
}

// waitResult is the next result of d.
func waitResult(t *testing.T, d *Destination) *PlacedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.Wait(ctx)
	if err != nil {
		t.Fatal("wait:", err)
	}
	return res
}

func checkEnded(t *testing.T, call signaling.Call, code, subcode int32) {
	t.Helper()
	if ri := call.ResultInfo; ri == nil || int32(ri.Code) != code || int32(ri.Subcode) != subcode {
		t.Errorf("resultInfo %+v, want %d/%d", call.ResultInfo, code, subcode)
	}
}

// The bot joins a meeting by its long join link: Graph answers 201 with the
// call, then notifies establishing and established; the call takes invite,
// transfer and participants like an incoming one, the roster's bot is the
// call's myParticipantId, and the bot's hang-up ends it.
func TestPlacedCallJoinsAMeetingByItsLink(t *testing.T) {
	e := newPlacedEnv(t)
	m := e.sim.AddMeeting(Callee{Scenario: Scenario{Duration: 5 * time.Second,
		Participants: []Participant{{DisplayName: "Ann", Voice: Cast[0].Voice}},
		Shares:       []Share{{Start: 0, End: time.Minute}}}})

	link, err := signaling.ParseJoinURL(m.JoinURL)
	if err != nil {
		t.Fatal(err)
	}
	if link.ChatInfo.ThreadID != m.ThreadID || link.OrganizerID != m.OrganizerID || link.TenantID != placedTenant {
		t.Fatalf("join link reads %+v (thread %s), want thread %s organizer %s", link, link.ChatInfo.ThreadID, m.ThreadID, m.OrganizerID)
	}
	short, err := signaling.ParseJoinURL(m.ShortURL)
	if err != nil || short.JoinMeetingID != m.JoinMeetingID || short.Passcode != m.Passcode || len(m.JoinMeetingID) != 14 {
		t.Fatalf("short link reads %+v, %v; want id %s passcode %s", short, err, m.JoinMeetingID, m.Passcode)
	}

	req := e.request()
	link.Apply(&req)
	req.CallOptions = &signaling.CallOptions{ODataType: signaling.ODataOutgoingCallOptions, IsContentSharingNotificationEnabled: true}
	call := e.create(t, req)
	if call.State != "establishing" || call.Direction != "outgoing" || call.MyParticipantID == "" ||
		call.ChatInfo == nil || call.ChatInfo.ThreadID != m.ThreadID || call.TenantID != placedTenant ||
		call.Source == nil || call.Source.Identity.Application.ID != placedApp {
		t.Errorf("created call %+v", call)
	}
	e.cb.nextCall(t, "updated", "establishing")
	e.cb.nextCall(t, "updated", "established")
	if parts := e.cb.nextRoster(t); len(parts) != 2 || len(parts[1].MediaStreams) != 2 {
		t.Errorf("roster at the share's start %+v, want Ann presenting", parts)
	}
	if n := e.cb.next(t); n.ChangeType != "created" || !strings.Contains(n.ResourceURL, "/contentsharingsessions/") {
		t.Errorf("%s %s, want the share created (the bot asked for sharing notifications)", n.ChangeType, n.ResourceURL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	op, err := e.client.InviteParticipants(ctx, "", call.ID, signaling.InviteParticipantsRequest{
		Participants: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-2", placedTenant)}, ClientContext: "inv"})
	if err != nil || op.Status != "running" {
		t.Errorf("invite: %+v, %v", op, err)
	}
	if n := e.cb.next(t); !strings.Contains(n.ResourceURL, "/operations/") {
		t.Errorf("after invite: %s, want the operation's end", n.ResourceURL)
	}
	parts, err := e.client.ListParticipants(ctx, "", call.ID)
	if err != nil || len(parts) != 2 || parts[0].ID != call.MyParticipantID || parts[1].Info.Identity.User.DisplayName != "Ann" {
		t.Errorf("participants %+v, %v; want the bot as %s and Ann", parts, err, call.MyParticipantID)
	}
	if err := e.client.Hangup(ctx, "", call.ID); err != nil {
		t.Fatal("hangup:", err)
	}
	if n := e.cb.next(t); n.ChangeType != "deleted" || !strings.Contains(n.ResourceURL, "/contentsharingsessions/") {
		t.Errorf("%s %s, want the share deleted with the call", n.ChangeType, n.ResourceURL)
	}
	e.cb.nextCall(t, "updated", "terminating")
	checkEnded(t, e.cb.nextCall(t, "deleted", "terminated"), 200, 5001)

	res := waitResult(t, m.Destination)
	if res.CallID != call.ID || !res.EndedByBot || res.Refused || len(res.SharesSent) != 1 || res.Request.ChatInfo.ThreadID != m.ThreadID ||
		!res.Admitted.Equal(res.Created) || !res.LobbyEnteredAt.IsZero() || res.Ended == nil || res.Ended.Subcode != 5001 {
		t.Errorf("result %+v", res)
	}
	if err := e.client.KeepAlive(ctx, "", call.ID); !errors.Is(err, signaling.ErrCallGone) {
		t.Errorf("keepAlive after the end: %v, want ErrCallGone", err)
	}
}

// Graph refuses the POST itself for a meeting joined with a wrong passcode
// (403), a destination it does not know (404) and a callee set to refuse.
func TestPlacedCallRefusals(t *testing.T) {
	e := newPlacedEnv(t)
	m := e.sim.AddMeeting(Callee{})
	refuser := e.sim.AddUser("9a1c0b5e-0000-4000-8000-000000000001", Callee{Refuse: &Refusal{Status: 403, Code: "7504",
		Message: "Insufficient enterprise tenant permissions, cannot access this API."}})
	withID := func(id, passcode string) signaling.CreateCallRequest {
		req := e.request()
		signaling.MeetingLink{JoinMeetingID: id, Passcode: passcode}.Apply(&req)
		req.TenantID = placedTenant
		return req
	}
	toUser := func(id string) signaling.CreateCallRequest {
		req := e.request()
		req.Targets = []signaling.InvitationParticipantInfo{signaling.UserTarget(id, "")}
		return req
	}
	unknownThread := e.request()
	link, _ := signaling.ParseJoinURL(m.JoinURL)
	link.ChatInfo.ThreadID = "19:meeting_other@thread.v2"
	link.Apply(&unknownThread)
	toPhone := e.request()
	toPhone.Targets = []signaling.InvitationParticipantInfo{signaling.PhoneTarget("+14255550100")}
	toPhone.Source = signaling.ApplicationInstanceSource("5e5e5e5e-0000-4000-8000-000000000005", "Bot line")

	for _, tc := range []struct {
		name   string
		req    signaling.CreateCallRequest
		status int
		code   string
	}{
		{"wrong passcode", withID(m.JoinMeetingID, m.Passcode+"x"), 403, "Forbidden"},
		{"no passcode", withID(m.JoinMeetingID, ""), 403, "Forbidden"},
		{"unknown join id", withID("11112222333344", m.Passcode), 404, "NotFound"},
		{"unknown thread", unknownThread, 404, "NotFound"},
		{"unknown user", toUser("9a1c0b5e-0000-4000-8000-000000000002"), 404, "NotFound"},
		{"unknown phone", toPhone, 404, "NotFound"},
		{"callee refuses", toUser("9A1C0B5E-0000-4000-8000-000000000001"), 403, "7504"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateCall(context.Background(), "", tc.req)
			var apiErr *signaling.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status || apiErr.Graph.Error.Code != tc.code || apiErr.Graph.Error.Message == "" {
				t.Fatalf("err = %v, want %d %s with a message", err, tc.status, tc.code)
			}
			if tc.status == 404 && !strings.Contains(apiErr.Graph.Error.Message, "not found") {
				t.Errorf("404 message %q does not say not found", apiErr.Graph.Error.Message)
			}
		})
	}
	for _, d := range []*Destination{m.Destination, m.Destination, refuser} {
		if res := waitResult(t, d); !res.Refused || res.Refusal.Status != 403 || res.CallID != "" {
			t.Errorf("refused result %+v", res)
		}
	}
	select {
	case n := <-e.cb.ch:
		t.Errorf("a refused call was notified: %+v", n)
	default:
	}
}

// Graph checks the request before looking the destination up: 400 with a
// message naming the field.
func TestPlacedCallRequestChecks(t *testing.T) {
	e := newPlacedEnv(t)
	e.sim.AddPhone("+14255550123", Callee{})
	m := e.sim.AddMeeting(Callee{})
	tok := placedToken(t, e.sim)

	phone := map[string]any{
		"@odata.type": signaling.ODataCall, "callbackUri": e.cb.srv.URL,
		"requestedModalities": []string{"audio"},
		"mediaConfig":         map[string]any{"@odata.type": signaling.ODataServiceHostedMediaConfig},
		"source":              map[string]any{"identity": map[string]any{"applicationInstance": map[string]any{"id": "5e5e5e5e-0000-4000-8000-000000000005"}}},
		"targets":             []any{map[string]any{"identity": map[string]any{"phone": map[string]any{"id": "+14255550123"}}}},
	}
	byID := map[string]any{"@odata.type": signaling.ODataJoinMeetingIDMeetingInfo, "joinMeetingId": m.JoinMeetingID, "passcode": m.Passcode}
	organizer := map[string]any{"@odata.type": signaling.ODataOrganizerMeetingInfo,
		"organizer": map[string]any{"user": map[string]any{"id": m.OrganizerID}}}
	meeting := func(info map[string]any, change func(map[string]any)) map[string]any {
		b := with(phone, func(b map[string]any) {
			delete(b, "targets")
			delete(b, "source")
			b["meetingInfo"] = info
			b["tenantId"] = placedTenant
		})
		return with(b, change)
	}
	for _, tc := range []struct {
		name, field string
		body        map[string]any
	}{
		{"phone without applicationInstance", "applicationInstance", with(phone, func(b map[string]any) { delete(b, "source") })},
		{"phone not E.164", "E.164", with(phone, func(b map[string]any) {
			b["targets"] = []any{map[string]any{"identity": map[string]any{"phone": map[string]any{"id": "4255550123"}}}}
		})},
		{"no @odata.type", "@odata.type", with(phone, func(b map[string]any) { delete(b, "@odata.type") })},
		{"no callbackUri", "callbackUri", with(phone, func(b map[string]any) { delete(b, "callbackUri") })},
		{"no modalities", "requestedModalities", with(phone, func(b map[string]any) { b["requestedModalities"] = []string{} })},
		{"unknown modality", "requestedModalities", with(phone, func(b map[string]any) { b["requestedModalities"] = []string{"smell"} })},
		{"unreadable blob", "mediaConfig.blob", with(phone, func(b map[string]any) {
			b["mediaConfig"] = map[string]any{"@odata.type": signaling.ODataAppHostedMediaConfig, "blob": "not a blob"}
		})},
		{"no media config type", "mediaConfig", with(phone, func(b map[string]any) { b["mediaConfig"] = map[string]any{} })},
		{"incoming call options", "callOptions", with(phone, func(b map[string]any) {
			b["callOptions"] = map[string]any{"@odata.type": signaling.ODataIncomingCallOptions}
		})},
		{"two targets", "targets", with(phone, func(b map[string]any) { b["targets"] = []any{b["targets"].([]any)[0], b["targets"].([]any)[0]} })},
		{"no destination", "targets", with(phone, func(b map[string]any) { delete(b, "targets") })},
		{"meeting and targets", "meetingInfo", with(phone, func(b map[string]any) { b["meetingInfo"] = byID })},
		{"join id without tenant", "tenantId", meeting(byID, func(b map[string]any) { delete(b, "tenantId") })},
		{"empty join id", "joinMeetingId", meeting(with(byID, func(i map[string]any) { delete(i, "joinMeetingId") }), nil)},
		{"organizer without chatInfo", "chatInfo.threadId", meeting(organizer, nil)},
		{"chatInfo without organizer", "organizer.user.id", meeting(with(organizer, func(i map[string]any) { delete(i, "organizer") }),
			func(b map[string]any) { b["chatInfo"] = map[string]any{"threadId": m.ThreadID} })},
		{"token meeting info", "meetingInfo", meeting(map[string]any{"@odata.type": signaling.ODataTokenMeetingInfo, "token": "t"}, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, gerr := postCreateCall(t, e.sim, tok, "application/json", tc.body)
			if status != http.StatusBadRequest || gerr.Code != "BadRequest" || !strings.Contains(gerr.Message, tc.field) {
				t.Errorf("%d %+v, want 400 BadRequest naming %s", status, gerr, tc.field)
			}
		})
	}
	if status, gerr := postCreateCall(t, e.sim, tok, "text/plain", phone); status != 400 || !strings.Contains(gerr.Message, "Content-Type") {
		t.Errorf("text/plain body: %d %+v", status, gerr)
	}
	if status, gerr := postCreateCall(t, e.sim, "not-a-token", "application/json", phone); status != 401 {
		t.Errorf("without a token: %d %+v", status, gerr)
	}
	select {
	case n := <-e.cb.ch:
		t.Errorf("a refused request was notified: %+v", n)
	default:
	}
}

// with is a copy of m changed by change (nil: unchanged).
func with(m map[string]any, change func(map[string]any)) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if change != nil {
		change(out)
	}
	return out
}

// placedToken is an access token of the sim, got as the bot gets one.
func placedToken(t *testing.T, sim *Sim) string {
	t.Helper()
	resp, err := http.PostForm(sim.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {placedApp},
		"client_secret": {placedSecret}, "scope": {sim.URL() + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

// postCreateCall POSTs body as is and returns the status and Graph's error.
func postCreateCall(t *testing.T, sim *Sim, token, contentType string, body map[string]any) (int, signaling.GraphErrorBody) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, sim.GraphURL()+"/communications/calls", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	var g signaling.GraphError
	_ = json.Unmarshal(reply, &g)
	return resp.StatusCode, g.Error
}

// A callee that ends the call before media: establishing, then terminating
// and deleted with its resultInfo.
func TestPlacedCallEndsBeforeMedia(t *testing.T) {
	e := newPlacedEnv(t)
	declined := &signaling.ResultInfo{Code: 603, Subcode: 10603, Message: "The user declined the call."}
	d := e.sim.AddUser("9a1c0b5e-0000-4000-8000-000000000003", Callee{EndBeforeMedia: declined})
	req := e.request()
	req.Targets = []signaling.InvitationParticipantInfo{signaling.UserTarget("9a1c0b5e-0000-4000-8000-000000000003", placedTenant)}
	call := e.create(t, req)
	e.cb.nextCall(t, "updated", "establishing")
	e.cb.nextCall(t, "updated", "terminating")
	ended := e.cb.nextCall(t, "deleted", "terminated")
	checkEnded(t, ended, 603, 10603)
	if ended.ResultInfo.Message != declined.Message {
		t.Errorf("message %q", ended.ResultInfo.Message)
	}
	res := waitResult(t, d)
	if res.CallID != call.ID || !res.MediaConnected.IsZero() || !res.Admitted.IsZero() || res.EndedByBot || *res.Ended != *declined {
		t.Errorf("result %+v", res)
	}
}

// With EstablishedFirst the states arrive out of order: no establishing
// first, then established before establishing.
func TestPlacedCallEstablishedFirst(t *testing.T) {
	e := newPlacedEnv(t)
	const user = "9a1c0b5e-0000-4000-8000-000000000004"
	d := e.sim.AddUser(user, Callee{Scenario: Scenario{EstablishedFirst: true, Duration: 100 * time.Millisecond}})
	req := e.request()
	req.Targets = []signaling.InvitationParticipantInfo{signaling.UserTarget(user, "")}
	e.create(t, req)
	e.cb.nextCall(t, "updated", "established")
	e.cb.nextCall(t, "updated", "establishing")
	e.cb.nextCall(t, "updated", "terminating")
	checkEnded(t, e.cb.nextCall(t, "deleted", "terminated"), 200, 5010)
	if res := waitResult(t, d); len(res.Participants) != 1 || res.Ended == nil {
		t.Errorf("result %+v", res)
	}
}

// A meeting's lobby holds the bot: a roster shows its own participant in
// the lobby, then admitted, before the call is established; a bot never
// admitted hangs up from the lobby.
func TestPlacedCallWaitsInTheLobby(t *testing.T) {
	e := newPlacedEnv(t)
	const lobby = 300 * time.Millisecond
	m := e.sim.AddMeeting(Callee{Lobby: lobby, Scenario: Scenario{Duration: 200 * time.Millisecond}})
	req := e.request()
	signaling.MeetingLink{JoinMeetingID: m.JoinMeetingID, Passcode: m.Passcode}.Apply(&req)
	req.TenantID = placedTenant
	call := e.create(t, req)
	e.cb.nextCall(t, "updated", "establishing")
	for _, inLobby := range []bool{true, false} {
		parts := e.cb.nextRoster(t)
		if len(parts) != 1 || parts[0].ID != call.MyParticipantID || parts[0].IsInLobby != inLobby ||
			parts[0].Info.Identity.Application == nil || parts[0].Info.Identity.Application.ID != placedApp {
			t.Errorf("roster %+v, want the bot %s alone with isInLobby %v", parts, call.MyParticipantID, inLobby)
		}
	}
	e.cb.nextCall(t, "updated", "established")
	e.cb.nextCall(t, "updated", "terminating")
	checkEnded(t, e.cb.nextCall(t, "deleted", "terminated"), 200, 5010)
	res := waitResult(t, m.Destination)
	if res.LobbyEnteredAt.IsZero() || res.Admitted.Sub(res.LobbyEnteredAt) < lobby {
		t.Errorf("in the lobby from %v to %v, want %v", res.LobbyEnteredAt, res.Admitted, lobby)
	}

	never := e.sim.AddMeeting(Callee{Lobby: -1})
	link, _ := signaling.ParseJoinURL(never.JoinURL)
	req = e.request()
	link.Apply(&req)
	call = e.create(t, req)
	e.cb.nextCall(t, "updated", "establishing")
	if parts := e.cb.nextRoster(t); !parts[0].IsInLobby {
		t.Errorf("roster %+v, want the bot in the lobby", parts)
	}
	if err := e.client.Hangup(context.Background(), "", call.ID); err != nil {
		t.Fatal(err)
	}
	e.cb.nextCall(t, "updated", "terminating")
	checkEnded(t, e.cb.nextCall(t, "deleted", "terminated"), 200, 5001)
	if res := waitResult(t, never.Destination); !res.EndedByBot || !res.Admitted.IsZero() || res.LobbyEnteredAt.IsZero() {
		t.Errorf("result %+v", res)
	}
}

// A phone call with app-hosted media: graphsim answers the bot's real blob,
// the roster names the phone's sourceId, and the phone's voice arrives over
// real UDP as G.711 on that SSRC.
func TestPlacedPhoneCallPlaysMedia(t *testing.T) {
	e := newPlacedEnv(t)
	const number = "+14255550123"
	d := e.sim.AddPhone(number, Callee{Scenario: Scenario{Duration: time.Second}})

	bot := newBotSession(t, 4)
	req := e.request()
	req.MediaConfig = signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: bot.blob}
	req.Targets = []signaling.InvitationParticipantInfo{signaling.PhoneTarget(number)}
	req.Source = signaling.ApplicationInstanceSource("5e5e5e5e-0000-4000-8000-000000000005", "Bot line")
	call := e.create(t, req)
	if call.Source.Identity.ApplicationInstance == nil || call.Source.Identity.ApplicationInstance.ID != "5e5e5e5e-0000-4000-8000-000000000005" {
		t.Errorf("created call's source %+v, want the application instance", call.Source.Identity)
	}

	e.cb.nextCall(t, "updated", "establishing")
	e.cb.nextCall(t, "updated", "established")
	parts := e.cb.nextRoster(t)
	if len(parts) != 2 || parts[0].ID != call.MyParticipantID || parts[1].Info.Identity.Phone == nil ||
		parts[1].Info.Identity.Phone.ID != number || len(parts[1].MediaStreams) != 1 {
		t.Fatalf("roster %+v", parts)
	}
	sourceID, _ := strconv.ParseUint(parts[1].MediaStreams[0].SourceID, 10, 32)
	e.cb.nextCall(t, "updated", "terminating")
	checkEnded(t, e.cb.nextCall(t, "deleted", "terminated"), 200, 5010)
	res := waitResult(t, d)
	got := bot.close()

	pid := res.Participants[0]
	if res.SSRCs[pid] != uint32(sourceID) || res.MediaConnected.IsZero() || res.PacketsSent[pid] < 40 {
		t.Errorf("result %+v, want the roster's sourceId %d and about 50 packets", res, sourceID)
	}
	tr := got.tracks[uint32(sourceID)]
	if tr == nil || tr.MimeType != "audio/PCMU" {
		t.Fatalf("track on the roster's sourceId: %+v", tr)
	}
	pcm := got.pcm[uint32(sourceID)]
	if len(pcm) < 16000*8/10 {
		t.Fatalf("%d samples decoded, want about %d", len(pcm), 16000)
	}
	cands := []float64{Cast[0].Voice.FundamentalHz, Cast[1].Voice.FundamentalHz, Cast[2].Voice.FundamentalHz}
	if k := audiotest.Dominant(pcm[1600:], 16000, cands); k != 0 {
		t.Errorf("dominant %v Hz, want the phone's %v Hz", cands[k], cands[0])
	}
}

// An incoming call's roster names the bot by the myParticipantId its
// incoming notification gave, as a placed call's does.
func TestIncomingCallRosterNamesTheBotByMyParticipantID(t *testing.T) {
	e := newPlacedEnv(t)
	done := make(chan *CallResult, 1)
	go func() {
		res, err := e.sim.PlayCall(context.Background(), Scenario{BotURL: e.cb.srv.URL, Duration: 5 * time.Second,
			Participants: []Participant{{DisplayName: "Ann"}}})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	incoming := e.cb.nextCall(t, "created", "incoming")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.client.Answer(ctx, "", incoming.ID, signaling.AnswerRequest{CallbackURI: e.cb.srv.URL, AcceptedModalities: []string{"audio"},
		MediaConfig: signaling.MediaConfig{ODataType: signaling.ODataServiceHostedMediaConfig}}); err != nil {
		t.Fatal(err)
	}
	parts, err := e.client.ListParticipants(ctx, "", incoming.ID)
	if err != nil || len(parts) != 2 || parts[0].ID != incoming.MyParticipantID || incoming.MyParticipantID == "" {
		t.Errorf("participants %+v, %v; want the bot as %q", parts, err, incoming.MyParticipantID)
	}
	if err := e.client.Hangup(ctx, "", incoming.ID); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res == nil || !res.EndedByBot {
		t.Errorf("result %+v", res)
	}
}

// botSession is the bot's media side of a call: a real media session over
// real UDP on loopback, whose blob a test puts in its request, decoding
// each track it receives to 16 kHz PCM.
type botSession struct {
	sess *mediasession.Session
	blob string
	got  *collect
}

func newBotSession(t *testing.T, sections int) *botSession {
	t.Helper()
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{BindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", engine.AnswerHandler())
	answers := httptest.NewServer(r)
	t.Cleanup(answers.Close)
	b := &botSession{got: &collect{pcm: map[uint32][]int16{}, tracks: map[uint32]*mediasession.Track{}}}
	b.sess, err = engine.NewSession(mediasession.SessionConfig{CallID: "placed", AudioSections: sections,
		AnswerURI: func(id string) string { return answers.URL + "/media/sessions/" + id + "/answer" },
		OnTrack:   b.got.decode(t, "placed")})
	if err != nil {
		t.Fatal(err)
	}
	if b.blob, err = b.sess.Blob().Encode(); err != nil {
		t.Fatal(err)
	}
	return b
}

// close ends the session and returns what it received, once decoded.
func (b *botSession) close() *collect {
	b.sess.Close() // flushes every stream
	return b.got
}
