package mediabot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// With --mix, mixed.wav is the sum of the participants on the media clock:
// both voices are in it, each where it speaks, and it spans the call.
func TestMixedTrackSumsTheParticipants(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.Mix = true })
	sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second, Participants: []graphsim.Participant{
		{Voice: graphsim.Voice{FundamentalHz: 300}, Talk: []graphsim.Span{{Start: 0, End: 1500 * time.Millisecond}}},
		{Voice: graphsim.Voice{FundamentalHz: 700}, Talk: []graphsim.Span{{Start: 1000 * time.Millisecond, End: 3 * time.Second}}},
	}}
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	mixed, rate := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, "mixed.wav"))
	if got := float64(len(mixed)) / float64(rate); got < 2.85 || got > 3.3 {
		t.Errorf("mixed.wav: %.2f s, want about 3 s", got)
	}
	at := func(from, to float64) []int16 { return mixed[int(from*float64(rate)):int(to*float64(rate))] }
	ratio := func(pcm []int16) float64 {
		return audiotest.Power(pcm, rate, 300) / audiotest.Power(pcm, rate, 700)
	}
	if r := ratio(at(0.3, 0.9)); r < 100 {
		t.Errorf("0.3-0.9 s: 300/700 Hz power ratio %.1f, want only the first voice", r)
	}
	if r := ratio(at(2.0, 2.8)); r > 0.01 {
		t.Errorf("2.0-2.8 s: 300/700 Hz power ratio %.3f, want only the second voice", r)
	}
	both := at(1.1, 1.4)
	if p3, p7 := audiotest.Power(both, rate, 300), audiotest.Power(both, rate, 700); p3 < 1e3 || p7 < 1e3 || p3/p7 > 10 || p7/p3 > 10 {
		t.Errorf("1.1-1.4 s: 300 Hz %.0f, 700 Hz %.0f: want both voices", p3, p7)
	}
}
