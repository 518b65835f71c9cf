package mediabot_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// stretch is a stretch of speech, in ms of media time.
type stretch struct{ start, end int64 }

// stretchesOf pairs a participant's speech.started and speech.ended events.
func stretchesOf(t *testing.T, events []event.Event, pid string) []stretch {
	t.Helper()
	var out []stretch
	open := int64(-1)
	for _, e := range events {
		if e.ParticipantID != pid {
			continue
		}
		switch e.Type {
		case event.SpeechStarted:
			if open >= 0 {
				t.Errorf("%s: speech.started at %d ms inside a stretch from %d ms", pid, e.MediaTimeMs, open)
			}
			open = e.MediaTimeMs
		case event.SpeechEnded:
			if open < 0 || e.DurationMs == nil || e.MediaTimeMs-*e.DurationMs != open {
				t.Errorf("%s: speech.ended at %d ms does not close the stretch from %d ms (duration %v)", pid, e.MediaTimeMs, open, e.DurationMs)
			}
			out = append(out, stretch{open, e.MediaTimeMs})
			open = -1
		}
	}
	return out
}

// anchor is where graphsim's timeline starts on the bot's media clock for
// one stream: the bot places a stream by its first packet's arrival (its
// stream.started), which came firstSent into graphsim's timeline. On a
// busy machine that arrival can be late by more than the detector's error,
// so each stream is measured against its own anchor.
func anchor(t *testing.T, events []event.Event, ssrc uint32, firstSent time.Duration) time.Duration {
	t.Helper()
	for _, e := range events {
		if e.Type == event.StreamStarted && e.SSRC == ssrc {
			return time.Duration(e.MediaTimeMs)*time.Millisecond - firstSent
		}
	}
	t.Fatalf("no stream.started for SSRC %d", ssrc)
	return 0
}

// checkStretches compares found stretches with the spans the participant
// really spoke, offset (where graphsim's timeline starts on the bot's media
// clock, for this stream) later: as many, each edge within 100 ms.
func checkStretches(t *testing.T, who string, got []stretch, spans []graphsim.Span, offset time.Duration) {
	t.Helper()
	if len(got) != len(spans) {
		t.Errorf("%s: %d stretches %v, want %d like %v", who, len(got), got, len(spans), spans)
		return
	}
	worst := 0.0
	for i, sp := range spans {
		sp.Start, sp.End = sp.Start+offset, sp.End+offset
		ds := math.Abs(float64(got[i].start - sp.Start.Milliseconds()))
		de := math.Abs(float64(got[i].end - sp.End.Milliseconds()))
		if ds > 100 {
			t.Errorf("%s stretch %d: starts at %d ms, spoke from %d ms (%.0f ms off)", who, i, got[i].start, sp.Start.Milliseconds(), ds)
		}
		if de > 100 {
			t.Errorf("%s stretch %d: ends at %d ms, spoke until %d ms (%.0f ms off)", who, i, got[i].end, sp.End.Milliseconds(), de)
		}
		worst = max(worst, ds, de)
	}
	t.Logf("%s: %d stretches, worst edge %.0f ms off", who, len(got), worst)
}

// Who spoke when: each participant's stretches of speech, found in their
// own audio, match when they really spoke (onset and end within 100 ms),
// as events and as speakers.rttm lines, whether a pause is sent as
// nothing at all (DTX: the RTP timestamps jump) or as encoded silence
// carrying the sender's RFC 6464 levels; a 200 ms pause does not split a
// stretch.
func TestWhoSpokeWhen(t *testing.T) {
	alice := []graphsim.Span{{Start: 400 * time.Millisecond, End: 1800 * time.Millisecond}, {Start: 2000 * time.Millisecond, End: 2700 * time.Millisecond}, {Start: 3400 * time.Millisecond, End: 4200 * time.Millisecond}}
	bob := []graphsim.Span{{Start: 1000 * time.Millisecond, End: 2400 * time.Millisecond}, {Start: 3000 * time.Millisecond, End: 3600 * time.Millisecond}}
	// Alice's first two spans are 200 ms apart: one stretch.
	aliceStretches := []graphsim.Span{{Start: alice[0].Start, End: alice[1].End}, alice[2]}
	for _, tc := range []struct {
		name                   string
		silenceBetween, levels bool
	}{
		{name: "DTX pauses, decoded audio"},
		{name: "encoded silence with the sender's levels", silenceBetween: true, levels: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t)
			log := &eventLog{}
			srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
			res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 4500 * time.Millisecond,
				Participants: []graphsim.Participant{
					{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: 220, SyllableHz: 4}, Talk: alice, SilenceBetween: tc.silenceBetween, AudioLevels: tc.levels},
					{DisplayName: "Bob", Voice: graphsim.Voice{FundamentalHz: 130, SyllableHz: 3}, Talk: bob, SilenceBetween: tc.silenceBetween, AudioLevels: tc.levels},
				}})
			if err != nil {
				t.Fatal(err)
			}
			waitIdle(t, srv)
			events := log.of(res.CallID, event.SpeechStarted, event.SpeechEnded)
			a, b := res.Participants[0], res.Participants[1]
			all := log.of(res.CallID, allTypes...)
			first := func(spans []graphsim.Span) time.Duration { // graphsim's first packet: the first word, or silence at once
				if tc.silenceBetween {
					return 0
				}
				return spans[0].Start
			}
			checkStretches(t, "Alice", stretchesOf(t, events, a), aliceStretches, anchor(t, all, res.SSRCs[a], first(alice)))
			checkStretches(t, "Bob", stretchesOf(t, events, b), bob, anchor(t, all, res.SSRCs[b], first(bob)))

			rttm, err := os.ReadFile(filepath.Join(srv.OutDir, res.CallID, "speakers.rttm"))
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for _, e := range events {
				if e.Type == event.SpeechEnded {
					fmt.Fprintf(&want, "SPEAKER %s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n", res.CallID,
						float64(e.MediaTimeMs-*e.DurationMs)/1000, float64(*e.DurationMs)/1000, e.ParticipantID)
				}
			}
			if string(rttm) != want.String() {
				t.Errorf("speakers.rttm:\n%s\nwant, from the events:\n%s", rttm, want.String())
			}
			inFile := readEvents(t, filepath.Join(srv.OutDir, res.CallID, "events.jsonl"))
			if n := len(inFile); n == 0 || inFile[n-1].Type != event.CallState {
				t.Errorf("events.jsonl does not end with the call's last word")
			}
		})
	}
}
