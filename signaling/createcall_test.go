package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

func appHosted() signaling.MediaConfig {
	return signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: "blob"}
}

func TestCreateCallPostsTheCallAndReadsTheCreatedOne(t *testing.T) {
	g := newFakeGraph(t, jsonReply(http.StatusCreated, `{"@odata.type":"#microsoft.graph.call","id":"c-9","state":"establishing","myParticipantId":"p-bot"}`))
	req := signaling.CreateCallRequest{
		ODataType: signaling.ODataCall, CallbackURI: "https://bot/api/calls/i1", RequestedModalities: []string{"audio"},
		Source:      signaling.ApplicationInstanceSource("ai-1", "Bot"),
		Targets:     []signaling.InvitationParticipantInfo{signaling.PhoneTarget("+14255550123")},
		MediaConfig: appHosted(), TenantID: "t-1",
	}
	call, err := g.client(t, signaling.RetryPolicy{}).CreateCall(context.Background(), "t-1", req)
	if err != nil {
		t.Fatal(err)
	}
	if call.ID != "c-9" || call.State != "establishing" || call.MyParticipantID != "p-bot" {
		t.Errorf("call = %+v", call)
	}
	body := checkSent(t, g.requests()[0], http.MethodPost, "/v1.0/communications/calls")
	jsonEqual(t, "source", body["source"], `{"@odata.type":"#microsoft.graph.participantInfo","identity":{"@odata.type":"#microsoft.graph.identitySet",
		"applicationInstance":{"@odata.type":"#microsoft.graph.identity","id":"ai-1","displayName":"Bot"}}}`)
	jsonEqual(t, "targets", body["targets"], "["+phoneTargetJSON+"]")
	jsonEqual(t, "mediaConfig", body["mediaConfig"], `{"@odata.type":"#microsoft.graph.appHostedMediaConfig","blob":"blob"}`)
	jsonEqual(t, "@odata.type", body["@odata.type"], `"#microsoft.graph.call"`)
	if _, ok := body["meetingInfo"]; ok {
		t.Error("meetingInfo sent with targets")
	}
}

func TestCreateCallIsRetriedOnlyWhenThrottled(t *testing.T) {
	retry := signaling.RetryPolicy{Base: time.Millisecond, Max: 2 * time.Millisecond}
	req := signaling.CreateCallRequest{ODataType: signaling.ODataCall, CallbackURI: "https://bot/cb", RequestedModalities: []string{"audio"},
		Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "")}, MediaConfig: appHosted()}

	g := newFakeGraph(t, graphError(http.StatusServiceUnavailable))
	_, err := g.client(t, retry).CreateCall(context.Background(), "", req)
	var apiErr *signaling.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
		t.Errorf("err = %v, want the 503", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("a 503 to create a call was sent %d times: Graph may have created it", n)
	}

	g = newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			graphError(http.StatusTooManyRequests)(w, r, n)
			return
		}
		jsonReply(http.StatusCreated, `{"id":"c-2","state":"establishing"}`)(w, r, n)
	})
	if call, err := g.client(t, retry).CreateCall(context.Background(), "", req); err != nil || call.ID != "c-2" {
		t.Errorf("after a 429: call %+v, err %v", call, err)
	}
}

func TestCreateCallRefusesWhatGraphWouldRefuse(t *testing.T) {
	base := signaling.CreateCallRequest{ODataType: signaling.ODataCall, CallbackURI: "https://bot/cb", RequestedModalities: []string{"audio"},
		Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "")}, MediaConfig: appHosted()}
	meeting := signaling.MeetingInfoJSON(signaling.JoinMeetingIDMeetingInfo{ODataType: signaling.ODataJoinMeetingIDMeetingInfo, JoinMeetingID: "123"})
	for _, tc := range []struct {
		name string
		edit func(*signaling.CreateCallRequest)
		want string
	}{
		{"no callback", func(r *signaling.CreateCallRequest) { r.CallbackURI = "" }, "callbackUri"},
		{"no modalities", func(r *signaling.CreateCallRequest) { r.RequestedModalities = nil }, "requestedModalities"},
		{"no blob", func(r *signaling.CreateCallRequest) { r.MediaConfig.Blob = "" }, "blob"},
		{"both", func(r *signaling.CreateCallRequest) { r.MeetingInfo = meeting }, "both a meeting and targets"},
		{"neither", func(r *signaling.CreateCallRequest) { r.Targets = nil }, "neither"},
		{"phone without source", func(r *signaling.CreateCallRequest) {
			r.Targets = []signaling.InvitationParticipantInfo{signaling.PhoneTarget("+14255550123")}
		}, "application instance"},
		{"phone not E.164", func(r *signaling.CreateCallRequest) {
			r.Targets = []signaling.InvitationParticipantInfo{signaling.PhoneTarget("4255550123")}
			r.Source = signaling.ApplicationInstanceSource("ai", "")
		}, "E.164"},
		{"organizer without chat", func(r *signaling.CreateCallRequest) {
			r.Targets = nil
			r.MeetingInfo = json.RawMessage(`{"@odata.type":"#microsoft.graph.organizerMeetingInfo","organizer":{}}`)
		}, "chatInfo"},
		{"unknown meeting info", func(r *signaling.CreateCallRequest) {
			r.Targets = nil
			r.MeetingInfo = json.RawMessage(`{"@odata.type":"#microsoft.graph.tokenMeetingInfo"}`)
		}, "tokenMeetingInfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGraph(t, status(http.StatusCreated))
			req := base
			tc.edit(&req)
			_, err := g.client(t, signaling.RetryPolicy{}).CreateCall(context.Background(), "", req)
			if !errors.Is(err, signaling.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidRequest about %q", err, tc.want)
			}
			if n := len(g.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestCreateCallWithoutAnIDIsABadReply(t *testing.T) {
	g := newFakeGraph(t, jsonReply(http.StatusCreated, `{"state":"establishing"}`))
	_, err := g.client(t, signaling.RetryPolicy{}).CreateCall(context.Background(), "", signaling.CreateCallRequest{
		ODataType: signaling.ODataCall, CallbackURI: "https://bot/cb", RequestedModalities: []string{"audio"},
		Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-1", "")}, MediaConfig: appHosted()})
	if !errors.Is(err, signaling.ErrBadReply) {
		t.Errorf("err = %v, want ErrBadReply", err)
	}
}
