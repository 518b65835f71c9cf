package main

import (
	"slices"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// floorPackets is how much of each voice the floor decodes per pass: 10 s.
const floorPackets = 500

// opusFloor is the libopus decode floor: the time one 20 ms packet of the
// voices graphsim sends takes to decode at the bot's 16 kHz, one reused
// decoder per voice, nothing else. It is what the bot cannot go below per
// packet; the ladder reports the bot's CPU per packet as a ratio to it.
type opusFloor struct {
	voices [][][]byte
	decs   []*audio.OpusDecoder
}

func newOpusFloor(participants, rate int) (*opusFloor, error) {
	f := &opusFloor{}
	for i := range participants {
		p, err := graphsim.Cast[i].Voice.EncodeOpus(floorPackets)
		if err != nil {
			return nil, err
		}
		dec, err := audio.NewOpusDecoder(rate)
		if err != nil {
			return nil, err
		}
		f.voices, f.decs = append(f.voices, p), append(f.decs, dec)
	}
	return f, nil
}

// measure decodes every voice passes times over and returns the median
// time per packet of a pass, on an idle machine (between rungs).
func (f *opusFloor) measure(passes int) (time.Duration, error) {
	per := make([]time.Duration, 0, passes)
	for range passes {
		n := 0
		t0 := time.Now()
		for v, packets := range f.voices {
			for _, p := range packets {
				if _, err := f.decs[v].Decode(p); err != nil {
					return 0, err
				}
				n++
			}
		}
		per = append(per, time.Since(t0)/time.Duration(n))
	}
	slices.Sort(per)
	return per[len(per)/2], nil
}
