package mediabot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/oggtest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// Six participants take turns over the four audio sections: graphsim sends
// the talking ones on the sections, each packet naming its speaker as CSRC,
// and the bot attributes every frame (or packet) through the roster's
// sourceIds, so each participant's file holds their voice while they talk
// and silence else, in WAVs and in Ogg Opus files alike.
func TestSixSpeakersRotateThroughFourSections(t *testing.T) {
	for _, opus := range []bool{false, true} {
		t.Run(map[bool]string{false: "wav", true: "opus"}[opus], func(t *testing.T) { sixSpeakersRotate(t, opus) })
	}
}

func sixSpeakersRotate(t *testing.T, opus bool) {
	sim := startSim(t)
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, OutDir: t.TempDir(), RecordOpus: opus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	freqs := []float64{200, 310, 430, 570, 730, 890}
	span := func(from, to float64) graphsim.Span {
		return graphsim.Span{Start: time.Duration(from * float64(time.Second)), End: time.Duration(to * float64(time.Second))}
	}
	talks := [][]graphsim.Span{
		{span(0, 1.5), span(3, 4.5)},
		{span(0, 1.5)},
		{span(0, 1.5), span(3, 4.5)},
		{span(0, 1.5)},
		{span(1.5, 3), span(3, 4.5)},
		{span(1.5, 3), span(3, 4.5)},
	}
	sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: 4500 * time.Millisecond}
	for i, f := range freqs {
		sc.Participants = append(sc.Participants, graphsim.Participant{Voice: graphsim.Voice{FundamentalHz: f}, Talk: talks[i]})
	}
	res, err := sim.PlayCall(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	const edge = 0.15 // seconds around a turn where a frame may straddle it
	for i, pid := range res.Participants {
		var pcm []int16
		rate := 48000
		if opus {
			pcm = oggtest.Decode(t, filepath.Join(srv.OutDir, res.CallID, pid+".opus"))
		} else {
			pcm, rate = wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, pid+".wav"))
		}
		// The media clock starts when media connects, the first packets a
		// little later: find where this participant's file starts speaking.
		window := func(from, to float64) []int16 {
			a, b := int(from*float64(rate)), min(int(to*float64(rate)), len(pcm))
			if a >= b {
				return nil
			}
			return pcm[a:b]
		}
		offset := float64(leadingSilence(pcm))/float64(rate) - talks[i][0].Start.Seconds()
		for sec := 0.0; sec < 4.5; sec += 0.5 {
			w := window(offset+sec+edge, offset+sec+0.5-edge)
			if w == nil {
				continue
			}
			speaking := false
			for _, s := range talks[i] {
				speaking = speaking || (sec >= s.Start.Seconds() && sec < s.End.Seconds())
			}
			switch rms := audiotest.RMS(w); {
			case speaking && (rms < 500 || audiotest.Dominant(w, rate, freqs) != i):
				t.Errorf("participant %d at %.1f s: RMS %.0f, dominant %.0f Hz; want its own %.0f Hz voice", i, sec, rms, freqs[audiotest.Dominant(w, rate, freqs)], freqs[i])
			case !speaking && rms > 50:
				t.Errorf("participant %d at %.1f s: RMS %.0f while it does not talk (someone else's audio?)", i, sec, rms)
			}
		}
	}
}
