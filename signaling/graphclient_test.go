package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

// seen is one request the fake Graph received.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// fakeGraph is an httptest Graph: a token endpoint granting "tok-1" and a
// Graph base whose replies the test scripts with reply (n counts the Graph
// requests, from 1).
type fakeGraph struct {
	srv   *httptest.Server
	reply func(w http.ResponseWriter, r *http.Request, n int)

	mu   sync.Mutex
	reqs []seen
}

func newFakeGraph(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, n int)) *fakeGraph {
	t.Helper()
	g := &fakeGraph{reply: reply}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body})
		n := len(g.reqs)
		g.mu.Unlock()
		g.reply(w, r, n)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGraph) requests() []seen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seen(nil), g.reqs...)
}

func (g *fakeGraph) client(t *testing.T, retry signaling.RetryPolicy) *signaling.Client {
	t.Helper()
	c, err := signaling.NewClient(signaling.ClientConfig{
		GraphURL: g.srv.URL + "/v1.0", TokenURL: g.srv.URL + "/{tenant}/oauth2/v2.0/token",
		ClientID: "app", ClientSecret: "secret", DefaultTenant: "tenant-1", Retry: retry,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

func jsonReply(code int, body string, header ...string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func graphError(code int, header ...string) func(http.ResponseWriter, *http.Request, int) {
	return jsonReply(code, `{"error":{"code":"Failed","message":"try later"}}`, header...)
}

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkSent checks the common shape of every action request and returns
// its JSON body as a generic map.
func checkSent(t *testing.T, r seen, method, path string) map[string]any {
	t.Helper()
	if r.Method != method || r.Path != path {
		t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, method, path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
		t.Errorf("Authorization = %q, want the client-credentials token", got)
	}
	if id := r.Header.Get("client-request-id"); !guid.MatchString(id) {
		t.Errorf("client-request-id = %q, want a GUID", id)
	}
	if method == http.MethodGet {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return body
}

// jsonEqual compares a decoded body field with the JSON text want.
func jsonEqual(t *testing.T, field string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(g) != string(wb) {
		t.Errorf("%s = %s, want %s", field, g, wb)
	}
}

const userTargetJSON = `{"@odata.type":"#microsoft.graph.invitationParticipantInfo","identity":{"@odata.type":"#microsoft.graph.identitySet",
	"user":{"@odata.type":"#microsoft.graph.identity","id":"u-1","tenantId":"t-1"}}}`

const phoneTargetJSON = `{"@odata.type":"#microsoft.graph.invitationParticipantInfo","identity":{"@odata.type":"#microsoft.graph.identitySet",
	"phone":{"@odata.type":"#microsoft.graph.identity","id":"+14255550123"}}}`

func TestRedirectPostsTargetsTimeoutAndCallback(t *testing.T) {
	g := newFakeGraph(t, status(http.StatusAccepted))
	err := g.client(t, signaling.RetryPolicy{}).Redirect(context.Background(), "", "call/1", signaling.RedirectRequest{
		Targets:     []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "t-1"), signaling.PhoneTarget("+14255550123")},
		Timeout:     30,
		CallbackURI: "https://bot.example.com/api/calls/i1",
	})
	if err != nil {
		t.Fatal(err)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls/call%2F1/redirect")
	jsonEqual(t, "targets", body["targets"], "["+userTargetJSON+","+phoneTargetJSON+"]")
	jsonEqual(t, "timeout", body["timeout"], "30")
	jsonEqual(t, "callbackUri", body["callbackUri"], `"https://bot.example.com/api/calls/i1"`)
}

func TestRedirectLeavesOutUnsetTimeout(t *testing.T) {
	g := newFakeGraph(t, status(http.StatusAccepted))
	if err := g.client(t, signaling.RetryPolicy{}).Redirect(context.Background(), "", "c1",
		signaling.RedirectRequest{Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "")}}); err != nil {
		t.Fatal(err)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls/c1/redirect")
	if _, ok := body["timeout"]; ok {
		t.Errorf("timeout sent although unset: %v", body)
	}
	if _, ok := body["callbackUri"]; ok {
		t.Errorf("callbackUri sent although unset: %v", body)
	}
}

func TestTransferPostsTargetAndTransferee(t *testing.T) {
	g := newFakeGraph(t, status(http.StatusAccepted))
	op, err := g.client(t, signaling.RetryPolicy{}).Transfer(context.Background(), "", "c1", signaling.TransferRequest{
		TransferTarget: signaling.PhoneTarget("+14255550123"),
		Transferee:     &signaling.ParticipantInfo{ID: "p-7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if op != nil {
		t.Errorf("operation = %+v, want nil for an empty 202", op)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls/c1/transfer")
	jsonEqual(t, "transferTarget", body["transferTarget"], phoneTargetJSON)
	jsonEqual(t, "transferee", body["transferee"], `{"id":"p-7"}`)
}

func TestTransferReadsOperationIDFromLocation(t *testing.T) {
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Location", "https://graph.microsoft.com/v1.0/communications/calls/c1/operations/op-9")
		w.WriteHeader(http.StatusAccepted)
	})
	op, err := g.client(t, signaling.RetryPolicy{}).Transfer(context.Background(), "", "c1",
		signaling.TransferRequest{TransferTarget: signaling.UserTarget("u-1", "")})
	if err != nil {
		t.Fatal(err)
	}
	if op == nil || op.ID != "op-9" {
		t.Errorf("operation = %+v, want id op-9", op)
	}
}

func TestInviteParticipantsReturnsTheRunningOperation(t *testing.T) {
	g := newFakeGraph(t, jsonReply(http.StatusOK, `{"@odata.type":"#microsoft.graph.inviteParticipantsOperation",
		"id":"op-1","status":"running","clientContext":"ctx-1","resultInfo":null}`))
	op, err := g.client(t, signaling.RetryPolicy{}).InviteParticipants(context.Background(), "", "c1", signaling.InviteParticipantsRequest{
		Participants:  []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "t-1")},
		ClientContext: "ctx-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if op == nil || op.ID != "op-1" || op.Status != "running" || op.ClientContext != "ctx-1" ||
		op.ODataType != signaling.ODataInviteParticipantsOperation {
		t.Errorf("operation = %+v", op)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls/c1/participants/invite")
	jsonEqual(t, "participants", body["participants"], "["+userTargetJSON+"]")
	jsonEqual(t, "clientContext", body["clientContext"], `"ctx-1"`)
}

func TestUpdateRecordingStatusReturnsTheOperation(t *testing.T) {
	g := newFakeGraph(t, jsonReply(http.StatusOK, `{"@odata.type":"#microsoft.graph.updateRecordingStatusOperation",
		"id":"op-2","status":"completed","clientContext":"rec-1"}`, "Location", "https://graph.microsoft.com/v1.0/communications/calls/c1/operations/op-2"))
	op, err := g.client(t, signaling.RetryPolicy{}).UpdateRecordingStatus(context.Background(), "", "c1", signaling.RecordingStatusRecording, "rec-1")
	if err != nil {
		t.Fatal(err)
	}
	if op == nil || op.ID != "op-2" || op.Status != "completed" || op.ClientContext != "rec-1" {
		t.Errorf("operation = %+v", op)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls/c1/updateRecordingStatus")
	jsonEqual(t, "body", body, `{"clientContext":"rec-1","status":"recording"}`)
}

func TestClientRefusesInvalidRequestsBeforeSending(t *testing.T) {
	g := newFakeGraph(t, status(http.StatusAccepted))
	c := g.client(t, signaling.RetryPolicy{})
	ctx := context.Background()
	one := []signaling.InvitationParticipantInfo{signaling.UserTarget("u", "")}
	tests := []struct {
		name string
		call func() error
	}{
		{"redirect without targets", func() error { return c.Redirect(ctx, "", "c", signaling.RedirectRequest{}) }},
		{"redirect timeout under 15 s", func() error {
			return c.Redirect(ctx, "", "c", signaling.RedirectRequest{Targets: one, Timeout: 10})
		}},
		{"redirect timeout over 90 s", func() error {
			return c.Redirect(ctx, "", "c", signaling.RedirectRequest{Targets: one, Timeout: 91})
		}},
		{"redirect to 26 targets", func() error {
			return c.Redirect(ctx, "", "c", signaling.RedirectRequest{Targets: make([]signaling.InvitationParticipantInfo, 26)})
		}},
		{"transfer without target", func() error {
			_, err := c.Transfer(ctx, "", "c", signaling.TransferRequest{})
			return err
		}},
		{"invite nobody", func() error {
			_, err := c.InviteParticipants(ctx, "", "c", signaling.InviteParticipantsRequest{})
			return err
		}},
		{"unknown recording status", func() error {
			_, err := c.UpdateRecordingStatus(ctx, "", "c", "paused", "")
			return err
		}},
		{"clientContext over 256 characters", func() error {
			_, err := c.UpdateRecordingStatus(ctx, "", "c", signaling.RecordingStatusRecording, strings.Repeat("é", 257))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, signaling.ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests reached Graph", n)
	}
	if _, err := c.UpdateRecordingStatus(ctx, "", "c", signaling.RecordingStatusFailed, strings.Repeat("é", 256)); err != nil {
		t.Errorf("256 characters refused: %v", err)
	}
}

func TestListParticipantsFollowsNextLink(t *testing.T) {
	var base string
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("$skiptoken") == "" {
			_, _ = io.WriteString(w, `{"value":[{"id":"p1","isMuted":false,"isInLobby":false,
				"mediaStreams":[{"mediaType":"audio","sourceId":"1234","direction":"sendReceive","serverMuted":false}]}],
				"@odata.nextLink":"`+base+`/v1.0/communications/calls/c1/participants?$skiptoken=2"}`)
			return
		}
		_, _ = io.WriteString(w, `{"value":[{"id":"p2","isMuted":true,"isInLobby":false}]}`)
	})
	base = g.srv.URL
	parts, err := g.client(t, signaling.RetryPolicy{}).ListParticipants(context.Background(), "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].ID != "p1" || parts[0].MediaStreams[0].SourceID != "1234" || parts[1].ID != "p2" || !parts[1].IsMuted {
		t.Errorf("participants = %+v", parts)
	}
	reqs := g.requests()
	checkSent(t, reqs[0], http.MethodGet, "/v1.0/communications/calls/c1/participants")
	checkSent(t, reqs[1], http.MethodGet, "/v1.0/communications/calls/c1/participants")
	if ct := reqs[0].Header.Get("Content-Type"); ct != "" {
		t.Errorf("GET carries Content-Type %q", ct)
	}
}

func TestListParticipantsDoesNotFollowNextLinkOffGraph(t *testing.T) {
	g := newFakeGraph(t, jsonReply(http.StatusOK, `{"value":[{"id":"p1"}],"@odata.nextLink":"https://evil.example.com/steal"}`))
	parts, err := g.client(t, signaling.RetryPolicy{}).ListParticipants(context.Background(), "", "c1")
	if !errors.Is(err, signaling.ErrBadReply) || len(parts) != 1 {
		t.Errorf("parts = %v, err = %v, want the first page and ErrBadReply", parts, err)
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestListParticipantsStopsAfterTenPages(t *testing.T) {
	var base string
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[{"id":"p"}],"@odata.nextLink":"`+base+`/v1.0/communications/calls/c1/participants?$skiptoken=x"}`)
	})
	base = g.srv.URL
	parts, err := g.client(t, signaling.RetryPolicy{}).ListParticipants(context.Background(), "", "c1")
	if !errors.Is(err, signaling.ErrBadReply) || len(parts) != 10 || len(g.requests()) != 10 {
		t.Errorf("%d parts, %d requests, err = %v; want 10, 10, ErrBadReply", len(parts), len(g.requests()), err)
	}
}

func TestRetryTwo503sThenSuccessIsOneLogicalRequest(t *testing.T) {
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			graphError(http.StatusServiceUnavailable)(w, r, n)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	err := g.client(t, signaling.RetryPolicy{}).Redirect(context.Background(), "", "c1",
		signaling.RedirectRequest{Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u", "")}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	id := reqs[0].Header.Get("client-request-id")
	for i, r := range reqs {
		if got := r.Header.Get("client-request-id"); got != id {
			t.Errorf("attempt %d client-request-id = %q, want %q", i+1, got, id)
		}
		if string(r.Body) != string(reqs[0].Body) {
			t.Errorf("attempt %d body = %s, want the first attempt's %s", i+1, r.Body, reqs[0].Body)
		}
	}
	// The next logical request gets an id of its own.
	if err := g.client(t, signaling.RetryPolicy{}).KeepAlive(context.Background(), "", "c1"); err != nil {
		t.Fatal(err)
	}
	if got := g.requests()[3].Header.Get("client-request-id"); got == id {
		t.Error("two logical requests share a client-request-id")
	}
}

func TestRetryHonoursRetryAfterSeconds(t *testing.T) {
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			graphError(http.StatusTooManyRequests, "Retry-After", "1")(w, r, n)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	start := time.Now()
	if err := g.client(t, signaling.RetryPolicy{}).KeepAlive(context.Background(), "", "c1"); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("retried after %v, before Retry-After's 1 s", elapsed)
	}
	if n := len(g.requests()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestRetryGivesUpBeforeTheDeadline(t *testing.T) {
	g := newFakeGraph(t, graphError(http.StatusServiceUnavailable, "Retry-After", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	err := g.client(t, signaling.RetryPolicy{}).Answer(ctx, "", "c1", signaling.AnswerRequest{})
	if time.Now().After(deadline) {
		t.Errorf("returned %v after the deadline", time.Since(deadline))
	}
	var apiErr *signaling.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || !errors.Is(err, signaling.ErrGraph) {
		t.Fatalf("err = %v, want the 503 APIError", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want Graph's refusal, not a timeout", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("%d attempts, want 1 (a 2 s wait does not fit in 500 ms)", n)
	}
}

func TestRetryStopsAfterMaxAttempts(t *testing.T) {
	g := newFakeGraph(t, graphError(http.StatusBadGateway))
	err := g.client(t, signaling.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond}).KeepAlive(context.Background(), "", "c1")
	var apiErr *signaling.APIError
	if !errors.As(err, &apiErr) || apiErr.Attempts != 4 || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Errorf("err = %v, want a 502 after 4 attempts", err)
	}
	if n := len(g.requests()); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
}

func TestRetryTransportError(t *testing.T) {
	g := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the connection drops before any reply
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	if err := g.client(t, signaling.RetryPolicy{}).KeepAlive(context.Background(), "", "c1"); err != nil {
		t.Fatal(err)
	}
	if n := len(g.requests()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	g := newFakeGraph(t, graphError(http.StatusBadRequest))
	err := g.client(t, signaling.RetryPolicy{}).Reject(context.Background(), "", "c1", signaling.RejectRequest{Reason: "none"})
	var apiErr *signaling.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !errors.Is(err, signaling.ErrGraph) {
		t.Errorf("err = %v, want the 400 APIError", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestGraphErrorReachesTheErrorString(t *testing.T) {
	tests := []struct {
		name   string
		reply  func(http.ResponseWriter, *http.Request, int)
		wantID string
	}{
		{"request-id in innerError", jsonReply(http.StatusForbidden, `{"error":{"code":"7504","message":"Insufficient enterprise tenant permissions",
			"innerError":{"request-id":"body-rid","date":"2026-01-01T00:00:00"}}}`, "request-id", "header-rid"), "body-rid"},
		{"request-id header only", jsonReply(http.StatusForbidden, `{"error":{"code":"7504","message":"Insufficient enterprise tenant permissions"}}`,
			"request-id", "header-rid"), "header-rid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, tt.reply)
			err := g.client(t, signaling.RetryPolicy{}).KeepAlive(context.Background(), "", "c1")
			var apiErr *signaling.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an APIError", err)
			}
			for _, want := range []string{"403", "7504", "Insufficient enterprise tenant permissions", "request-id " + tt.wantID} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if apiErr.RequestID != tt.wantID {
				t.Errorf("RequestID = %q, want %q", apiErr.RequestID, tt.wantID)
			}
			if apiErr.ClientRequestID != g.requests()[0].Header.Get("client-request-id") {
				t.Errorf("ClientRequestID = %q, want the one sent", apiErr.ClientRequestID)
			}
		})
	}
}
