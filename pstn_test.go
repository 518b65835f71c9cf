package mediabot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// A phone (PSTN) participant end to end: graphsim sends it as G.711 µ-law
// on its own section beside a Teams user's Opus; the bot decodes and
// upsamples it to the phone participant's own WAV, names it by its number
// in events.jsonl, and counts its stream without decode errors.
func TestPSTNParticipantIsRecordedThroughG711(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, nil)

	const phone = "+14255550123"
	freqs := []float64{300, 500}
	sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second, Participants: []graphsim.Participant{
		{DisplayName: "Teams user", Voice: graphsim.Voice{FundamentalHz: freqs[0], SyllableHz: 3}},
		{Phone: phone, Voice: graphsim.Voice{FundamentalHz: freqs[1], SyllableHz: 4}},
	}}
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)

	const rate = 16000
	callDir := filepath.Join(srv.OutDir, res.CallID)
	for i, pid := range res.Participants {
		pcm, gotRate := wavtest.Read(t, filepath.Join(callDir, pid+".wav"))
		if gotRate != rate {
			t.Fatalf("participant %d: rate %d, want %d", i, gotRate, rate)
		}
		// The file starts at the media clock's 0 (media connected): the
		// first packet comes a little later, more so on a busy machine.
		lead := leadingSilence(pcm)
		wantSec, gotSec := sc.Duration.Seconds(), float64(len(pcm)-lead)/rate
		if gotSec < wantSec*0.95 || gotSec > wantSec*1.05 || lead > rate/2 {
			t.Errorf("participant %d: %.2f s of audio after %d samples of silence, want %.2f s ± 5 %%", i, gotSec, lead, wantSec)
		}
		speech := pcm[rate/5:]
		if d := audiotest.Dominant(speech, rate, freqs); d != i {
			t.Errorf("participant %d: dominant frequency %.0f Hz, want %.0f Hz", i, freqs[d], freqs[i])
		}
		if rms := audiotest.RMS(speech); rms < 500 {
			t.Errorf("participant %d: speech RMS %.0f, too quiet", i, rms)
		}
	}

	phoneID, phoneSSRC := res.Participants[1], res.SSRCs[res.Participants[1]]
	var joined, stats bool
	for _, e := range readEvents(t, filepath.Join(callDir, "events.jsonl")) {
		switch {
		case e.Type == event.ParticipantJoined && e.ParticipantID == phoneID:
			joined = true
			if e.Identity == nil || e.Identity.Kind != event.KindPhone || e.Identity.Phone != phone {
				t.Errorf("phone participant joined as %+v, want kind phone, phone %s", e.Identity, phone)
			}
		case e.Type == event.StreamStats && e.SSRC == phoneSSRC:
			stats = true
			if c := e.StreamCounters; c == nil || c.Packets == 0 || c.DecodeErrors != 0 {
				t.Errorf("phone stream stats %+v, want packets > 0 and no decode errors", c)
			}
		}
	}
	if !joined {
		t.Errorf("no participant.joined for the phone participant %s", phoneID)
	}
	if !stats {
		t.Errorf("no stream.stats for the phone stream (SSRC %d)", phoneSSRC)
	}
}

// leadingSilence is the number of zero samples a WAV starts with.
func leadingSilence(pcm []int16) int {
	for i, x := range pcm {
		if x != 0 {
			return i
		}
	}
	return len(pcm)
}
