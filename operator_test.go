package mediabot_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/joinclient"
)

// operatorRequest sends one request to the operator API and returns the
// status and the decoded error (or reply) body.
func operatorRequest(t *testing.T, method, url, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: reply %q is not JSON", method, url, raw)
		}
	}
	return resp.StatusCode, out
}

// errorMessage is error.message of an operator API error body.
func errorMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestOperatorAPIWantsTheAdminToken(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil, mediabot.WithAdminToken("s3cret"))
	calls := srv.OpsURL + "/v1/calls"
	for _, token := range []string{"", "wrong"} {
		if code, _ := operatorRequest(t, http.MethodGet, calls, token, "", ""); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", token, code)
		}
	}
	code, body := operatorRequest(t, http.MethodGet, calls, "s3cret", "", "")
	if list, ok := body["calls"].([]any); code != http.StatusOK || !ok || len(list) != 0 {
		t.Errorf("GET /v1/calls = %d %v, want 200 and no calls", code, body)
	}
	if code, _ := operatorRequest(t, http.MethodDelete, calls+"/no-such-call", "s3cret", "", ""); code != http.StatusNotFound {
		t.Errorf("DELETE an unknown call: %d, want 404", code)
	}
}

func TestOperatorAPIWithoutATokenOnlyOnLoopback(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	// A loopback client of the operations handler, served on a listener
	// of the given address.
	list := func(listener string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodGet, "/v1/calls", nil)
		req.RemoteAddr = "127.0.0.1:50000"
		local, err := net.ResolveTCPAddr("tcp", listener)
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
		rec := httptest.NewRecorder()
		srv.Bot.OpsHandler().ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("reply %q is not JSON", rec.Body.Bytes())
		}
		return rec.Code, body
	}
	if code, body := list("192.0.2.10:9440"); code != http.StatusForbidden || !strings.Contains(errorMessage(body), "--admin-token") {
		t.Errorf("no token, public listener: %d %v, want 403 naming --admin-token", code, body)
	}
	if code, body := list("127.0.0.1:9440"); code != http.StatusOK {
		t.Errorf("no token, loopback listener: %d %v, want 200", code, body)
	}
}

func TestOperatorAPISaysWhatIsWrongWithAJoin(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil) // loopback, no token: allowed from loopback
	calls := srv.OpsURL + "/v1/calls"
	for _, tc := range []struct {
		contentType, body string
		status            int
		want              string
	}{
		{"text/plain", `{}`, 400, "Content-Type"},
		{"application/json", `{`, 400, "body"},
		{"application/json", `{"meetingUrl":"https://teams.microsoft.com/meet/1"}`, 400, `unknown field "meetingUrl"`},
		{"application/json", `{}`, 400, "name one destination"},
		{"application/json", `{"userId":"22222222-0000-4000-8000-000000000001","phone":"+14255550123"}`, 400, "userId and phone"},
		{"application/json", `{"joinUrl":"https://example.com/l/meetup-join/x/0"}`, 400, "not an https link to Teams"},
		{"application/json", `{"joinUrl":"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"}`, 400, "no context parameter"},
		{"application/json", `{"joinMeetingId":"12ab","passcode":"p"}`, 400, "not the number"},
		{"application/json", `{"userId":"bob"}`, 400, "object id"},
		{"application/json", `{"phone":"4255550123"}`, 400, "E.164"},
		{"application/json", `{"phone":"+14255550123"}`, 400, "--application-instance-id"},
		{"application/json", `{"userId":"22222222-0000-4000-8000-000000000001","passcode":"p"}`, 400, "passcode goes with joinMeetingId"},
		{"application/json", `{"userId":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body over"},
	} {
		code, body := operatorRequest(t, http.MethodPost, calls, "", tc.contentType, tc.body)
		if code != tc.status || !strings.Contains(errorMessage(body), tc.want) {
			t.Errorf("POST %.60s: %d %q, want %d saying %q", tc.body, code, errorMessage(body), tc.status, tc.want)
		}
	}
}

// The operator lists the calls the bot holds and hangs one up.
func TestOperatorListsAndHangsUpAPlacedCall(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil, mediabot.WithAdminToken("s3cret"))
	const user = "22222222-0000-4000-8000-0000000000d1"
	d := sim.AddUser(user, graphsim.Callee{Scenario: graphsim.Scenario{Duration: time.Minute}})
	calls := srv.OpsURL + "/v1/calls"
	code, body := operatorRequest(t, http.MethodPost, calls, "s3cret", "application/json", `{"userId":"`+user+`"}`)
	id, _ := body["callId"].(string)
	if code != http.StatusCreated || id == "" {
		t.Fatalf("POST /v1/calls = %d %v", code, body)
	}
	code, body = operatorRequest(t, http.MethodGet, calls, "s3cret", "", "")
	list, _ := body["calls"].([]any)
	if code != http.StatusOK || len(list) != 1 {
		t.Fatalf("GET /v1/calls = %d %v, want the placed call", code, body)
	}
	if first, _ := list[0].(map[string]any); first["id"] != id || first["direction"] != "outgoing" {
		t.Errorf("GET /v1/calls lists %v, want the placed call %s, outgoing", first, id)
	}
	if code, _ := operatorRequest(t, http.MethodDelete, calls+"/"+id, "s3cret", "", ""); code != http.StatusNoContent {
		t.Errorf("DELETE /v1/calls/%s = %d, want 204", id, code)
	}
	if res := waitPlaced(t, d); !res.EndedByBot {
		t.Error("graphsim did not see the bot hang up")
	}
	waitIdle(t, srv)
}

// Graph out of reach: the operator hears 504, not that Graph refused.
func TestOperatorSaysWhenGraphDidNotReply(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.GraphURL = "http://127.0.0.1:1/v1.0" })
	code, body := operatorRequest(t, http.MethodPost, srv.OpsURL+"/v1/calls", "", "application/json",
		`{"userId":"22222222-0000-4000-8000-0000000000e1"}`)
	if code != http.StatusGatewayTimeout || !strings.Contains(errorMessage(body), "no reply from Graph") {
		t.Errorf("POST /v1/calls with Graph unreachable = %d %q, want 504 saying there was no reply", code, errorMessage(body))
	}
}

// A bot that cannot get a token (a wrong secret here) says so: no request
// reached Graph, so it is neither Graph's refusal nor a lost reply.
func TestJoinWithoutATokenSaysSo(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.ClientSecret = "wrong" })
	const user = "22222222-0000-4000-8000-0000000000d2"
	sim.AddUser(user, graphsim.Callee{})
	_, err := (&joinclient.Client{BotURL: srv.OpsURL}).Place(context.Background(), mediabot.JoinRequest{UserID: user})
	if err == nil || !strings.Contains(err.Error(), "cannot get a token for tenant "+testTenant) || strings.Contains(err.Error(), "no reply") {
		t.Errorf("join with a wrong secret: %v, want the bot cannot get a token, naming the tenant", err)
	}
}
