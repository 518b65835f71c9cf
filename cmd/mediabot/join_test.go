package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// joinTestBot runs a bot against a fresh graphsim on loopback, with an
// admin token, and returns the emulator and the bot's operations URL.
func joinTestBot(t *testing.T) (*graphsim.Sim, string) {
	t.Helper()
	srv, err := mediabottest.Start(mediabottest.Options{BotOptions: []mediabot.Option{mediabot.WithAdminToken("tok")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Sim, srv.OpsURL
}

var callIDLine = regexp.MustCompile(`^[0-9a-f-]{36}\n$`)

// mediabot join prints the call id alone on stdout, and with --wait
// follows the call through the lobby until its media connects.
func TestJoinPrintsTheCallID(t *testing.T) {
	sim, base := joinTestBot(t)
	m := sim.AddMeeting(graphsim.Callee{Lobby: 500 * time.Millisecond, Scenario: graphsim.Scenario{Duration: time.Second}})
	cmd := command(t, "join", "--bot-url", base, "--admin-token", "tok", "--join-url", m.JoinURL, "--wait", "20s")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("join: %v\n%s", err, stderr.String())
	}
	if !callIDLine.Match(out) {
		t.Errorf("stdout %q, want the call id alone", out)
	}
	for _, want := range []string{"lobby", "admitted", "media connected"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
	res, err := m.Wait(context.Background())
	if err != nil || res.CallID+"\n" != string(out) {
		t.Errorf("graphsim played call %v (%v), mediabot join printed %q", res, err, out)
	}
}

// Mistakes and refusals end with a message that says what to do.
func TestJoinSaysWhatWentWrong(t *testing.T) {
	sim, base := joinTestBot(t)
	m := sim.AddMeeting(graphsim.Callee{})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no destination", []string{"--bot-url", base}, "name one destination"},
		{"wrong token", []string{"--bot-url", base, "--admin-token", "nope", "--join-url", m.JoinURL}, "--admin-token"},
		{"bad link", []string{"--bot-url", base, "--admin-token", "tok", "--join-url", "https://teams.microsoft.com/l/meetup-join/x"}, "neither /l/meetup-join"},
		{"wrong passcode", []string{"--bot-url", base, "--admin-token", "tok", "--join-meeting-id", m.JoinMeetingID, "--passcode", "x"}, "Graph refused the call: Forbidden"},
		{"no bot", []string{"--bot-url", "http://127.0.0.1:1", "--user-id", "22222222-0000-4000-8000-000000000001"}, "is `mediabot serve` running"},
		{"unknown flag", []string{"--meeting", "x"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := command(t, append([]string{"join"}, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want a failure; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
		})
	}
}
