package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/internal/joinclient"
)

// runJoin asks a running bot to place a call and prints the call id.
func runJoin(args []string) error {
	f := cli.NewFlags("mediabot join", "MEDIABOT")
	var c joinclient.Client
	var req mediabot.JoinRequest
	var wait time.Duration
	f.String(&c.BotURL, "bot-url", "http://127.0.0.1:9441", "the running bot's operations URL (its --ops-listen)")
	f.Secret(&c.Token, "admin-token", "the bot's --admin-token (a bearer `token`)")
	f.String(&req.JoinURL, "join-url", "", "join the meeting of this Teams join link")
	f.String(&req.JoinMeetingID, "join-meeting-id", "", "join the meeting with this id (with --passcode)")
	f.String(&req.Passcode, "passcode", "", "the meeting's passcode")
	f.String(&req.UserID, "user-id", "", "call this Teams user (object id)")
	f.String(&req.Phone, "phone", "", "call this phone number, E.164 (+14255550123)")
	// Not from MEDIABOT_TENANT_ID: that is the bot's own tenant, in the
	// deployment's environment, and would replace the join link's.
	f.StringVar(&req.TenantID, "tenant-id", "", "tenant of the meeting or user (default: the join link's, else the bot's); no environment variable")
	f.Duration(&wait, "wait", 0, "also follow the call until its media connects or it ends, at most this long (0: print the id and return)")
	if err := f.Parse(args); err != nil {
		return err
	}
	if req == (mediabot.JoinRequest{TenantID: req.TenantID}) {
		return errors.New("join: name one destination: --join-url, --join-meeting-id (with --passcode), --user-id or --phone")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	info, err := c.Place(ctx, req)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	fmt.Println(info.ID)
	if wait <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := c.Follow(ctx, info.ID, func(s string) { fmt.Fprintln(os.Stderr, "mediabot join:", s) }); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	return nil
}
