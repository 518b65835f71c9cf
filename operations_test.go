package mediabot_test

import (
	"context"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Inviting a phone number into a live call returns Graph's running
// operation only once its completion notification has come; a transfer is
// accepted.
func TestInviteIsTrackedToItsCompletion(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)
	bot := srv.Bot
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	callID := waitLive(t, bot)
	time.Sleep(300 * time.Millisecond) // established
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	op, err := bot.Invite(ctx, callID, signaling.PhoneTarget("+14255550123"), signaling.UserTarget("22222222-0000-4000-8000-000000000001", testTenant))
	if err != nil {
		t.Fatal(err)
	}
	if op == nil || op.Status != "completed" || op.ClientContext != callID {
		t.Errorf("invite operation %+v, want completed with the call id as clientContext", op)
	}
	if _, err := bot.Transfer(ctx, callID, signaling.UserTarget("22222222-0000-4000-8000-000000000002", testTenant)); err != nil {
		t.Errorf("transfer: %v", err)
	}
	if _, err := bot.Invite(ctx, "no-such-call", signaling.PhoneTarget("+14255550123")); err == nil {
		t.Error("invite into an unknown call: no error")
	}
	<-done
}
