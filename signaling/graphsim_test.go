package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/signaling"
)

// simBot is a minimal bot for graphsim: it hands each incoming call to
// onIncoming and records every notification after that.
type simBot struct {
	srv *httptest.Server

	mu   sync.Mutex
	seen []signaling.CommsNotification
}

func newSimBot(t *testing.T, onIncoming func(callID string)) *simBot {
	t.Helper()
	b := &simBot{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch signaling.CommsNotifications
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, n := range batch.Value {
			calls, _ := n.Calls()
			if n.ChangeType == "created" && len(calls) == 1 && calls[0].State == "incoming" {
				go onIncoming(calls[0].ID)
				continue
			}
			b.mu.Lock()
			b.seen = append(b.seen, n)
			b.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *simBot) notifications() []signaling.CommsNotification {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]signaling.CommsNotification(nil), b.seen...)
}

func startSim(t *testing.T) (*graphsim.Sim, *signaling.Client) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Config{TenantID: "tenant-1", ClientID: "app", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	c, err := signaling.NewClient(signaling.ClientConfig{GraphURL: sim.GraphURL(), TokenURL: sim.TokenURL(),
		ClientID: "app", ClientSecret: "secret", DefaultTenant: "tenant-1"})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestRedirectThroughGraphsimEndsTheCallForTheBot(t *testing.T) {
	sim, client := startSim(t)
	redirected := make(chan error, 1)
	bot := newSimBot(t, func(callID string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		redirected <- client.Redirect(ctx, "tenant-1", callID, signaling.RedirectRequest{
			Targets: []signaling.InvitationParticipantInfo{signaling.PhoneTarget("+14255550123")}, Timeout: 20})
	})
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: bot.srv.URL,
		Participants: []graphsim.Participant{{DisplayName: "Ann"}}, AnswerWindow: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-redirected; err != nil {
		t.Fatal(err)
	}
	if len(res.Redirected) != 1 || res.Redirected[0].Identity.Phone.ID != "+14255550123" {
		t.Errorf("Redirected = %+v", res.Redirected)
	}
	seen := bot.notifications()
	if len(seen) != 1 || seen[0].ChangeType != "deleted" {
		t.Fatalf("notifications after redirect = %+v, want one deleted", seen)
	}
	if calls, _ := seen[0].Calls(); len(calls) != 1 || calls[0].State != "terminated" {
		t.Errorf("deleted notification's call = %+v, want state terminated", calls)
	}
	// A second redirect of the ended call is refused.
	err = client.Redirect(context.Background(), "tenant-1", res.CallID, signaling.RedirectRequest{
		Targets: []signaling.InvitationParticipantInfo{signaling.UserTarget("u", "")}})
	if !errors.Is(err, signaling.ErrCallGone) {
		t.Errorf("redirect of an ended call: %v, want ErrCallGone", err)
	}
}

// A service-hosted call needs no media: the actions on an answered call are
// played against graphsim's Graph routes, with injected throttling.
func TestCallActionsThroughGraphsim(t *testing.T) {
	sim, client := startSim(t)
	done := make(chan struct{})
	var bot *simBot
	bot = newSimBot(t, func(callID string) {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		if err := client.Answer(ctx, "tenant-1", callID, signaling.AnswerRequest{CallbackURI: bot.srv.URL + "/cb",
			AcceptedModalities: []string{"audio"},
			MediaConfig:        signaling.MediaConfig{ODataType: signaling.ODataServiceHostedMediaConfig}}); err != nil {
			t.Error("answer:", err)
			return
		}

		sim.FailNext(http.MethodPost, "/participants/invite", http.StatusServiceUnavailable, 0, 2)
		op, err := client.InviteParticipants(ctx, "tenant-1", callID, signaling.InviteParticipantsRequest{
			Participants: []signaling.InvitationParticipantInfo{signaling.UserTarget("u-9", "tenant-1")}, ClientContext: "inv-1"})
		if err != nil || op.Status != "running" || op.ClientContext != "inv-1" || op.ID == "" {
			t.Errorf("invite after two 503s: %+v, %v", op, err)
		}

		sim.FailNext(http.MethodPost, "/updateRecordingStatus", http.StatusTooManyRequests, time.Second, 1)
		start := time.Now()
		op, err = client.UpdateRecordingStatus(ctx, "tenant-1", callID, signaling.RecordingStatusRecording, "rec-1")
		if err != nil || op.Status != "completed" || op.ClientContext != "rec-1" || op.ID == "" {
			t.Errorf("updateRecordingStatus: %+v, %v", op, err)
		}
		if time.Since(start) < time.Second {
			t.Errorf("updateRecordingStatus retried before Retry-After (after %v)", time.Since(start))
		}

		parts, err := client.ListParticipants(ctx, "tenant-1", callID)
		if err != nil || len(parts) != 2 || parts[0].Info.Identity.Application == nil ||
			parts[1].Info.Identity.User == nil || parts[1].Info.Identity.User.DisplayName != "Ann" {
			t.Errorf("participants: %+v, %v", parts, err)
		}

		sim.FailNext(http.MethodPost, "/keepAlive", http.StatusBadRequest, 0, 1)
		if err := client.KeepAlive(ctx, "tenant-1", callID); err == nil {
			t.Error("injected 400 not reported")
		}
		if err := client.KeepAlive(ctx, "tenant-1", callID); err != nil {
			t.Errorf("keepAlive after the injected 400: %v", err)
		}
		// A transfer is the bot's last act: Graph then ends its leg.
		if op, err := client.Transfer(ctx, "tenant-1", callID, signaling.TransferRequest{
			TransferTarget: signaling.UserTarget("u-2", "")}); err != nil || op != nil {
			t.Errorf("transfer: %+v, %v", op, err)
		}
	})
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: bot.srv.URL,
		Participants: []graphsim.Participant{{DisplayName: "Ann"}}, Duration: 8 * time.Second, AnswerWindow: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if to := res.TransferredTo; to == nil || to.Identity.User == nil || to.Identity.User.ID != "u-2" {
		t.Errorf("the call ended transferred to %+v, want user u-2", to)
	}
}
