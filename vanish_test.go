package mediabot_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// The media processor vanishes mid-call without a word (no DTLS
// close_notify, no RTCP BYE, its sockets gone) while Graph keeps the call
// up. The bot's ICE agent hears no answer to its checks and gives the leg
// up (mediasession.ICEGivesUpAfter); the call waits call.MediaLossGrace for
// Graph, says media.failed, hangs up and ends with Graph's terminated. The
// participant's WAV holds everything sent before the vanish, its tone in
// every whole second, and nothing after.
func TestVanishedMediaPeerEndsTheCallAndKeepsItsAudio(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for ICE to give up (over 30 s)")
	}
	t.Parallel()
	sim := startSim(t)
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log))
	freqs := []float64{220, 440, 700}
	const vanishAt = 3 * time.Second
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook,
		Duration:        2 * time.Minute, // Graph would end the call only then
		MediaVanishesAt: vanishAt,
		Participants:    []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: freqs[1]}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if res.MediaVanished.IsZero() {
		t.Fatal("graphsim's media processor did not vanish")
	}
	if !res.EndedByBot {
		t.Fatal("the bot did not hang up a call whose media vanished")
	}

	events := log.of(res.CallID, allTypes...)
	failed := log.of(res.CallID, event.MediaFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].Reason, "ICE failed") {
		t.Fatalf("media.failed events %+v, want one saying ICE failed (nothing else told the bot)", failed)
	}
	checkLastWord(t, "event consumer", events, 5001, failed[0].Reason)
	terminated := events[len(events)-1]
	toFailed, toEnd := failed[0].Time.Sub(res.MediaVanished), terminated.Time.Sub(res.MediaVanished)
	t.Logf("last packet to media.failed %.1f s, to call.state terminated %.1f s", toFailed.Seconds(), toEnd.Seconds())
	// ICE counts from the peer's last answer to a check, which may come a
	// keepalive interval before its last packet, and sees the failure up
	// to an interval late; the bound leaves a busy machine 10 s more for
	// the DELETE and Graph's notifications.
	earliest := mediasession.ICEGivesUpAfter - mediasession.ICEKeepaliveInterval + call.MediaLossGrace
	bound := mediasession.ICEGivesUpAfter + mediasession.ICEKeepaliveInterval + call.MediaLossGrace + 10*time.Second
	if toFailed < earliest || toEnd > bound {
		t.Errorf("media.failed %s and terminated %s after the last packet, want both in [%s, %s]", toFailed, toEnd, earliest, bound)
	}

	const rate = 16000
	pid := res.Participants[0]
	pcm, _ := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, pid+".wav"))
	lead := leadingSilence(pcm)
	sent := time.Duration(res.PacketsSent[pid]) * 20 * time.Millisecond
	kept := time.Duration(len(pcm)-lead) * time.Second / rate
	t.Logf("audio sent %.2f s, kept %.2f s", sent.Seconds(), kept.Seconds())
	if kept < sent-100*time.Millisecond || kept > sent+40*time.Millisecond {
		t.Errorf("the WAV holds %s of audio after %d samples of silence; %s were sent before the vanish", kept, lead, sent)
	}
	checkToneEverySecond(t, pid+".wav", pcm[lead:], rate, freqs, 1)
}
