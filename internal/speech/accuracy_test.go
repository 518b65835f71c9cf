package speech

import (
	"testing"
)

// accuracyLimitMs is how far a stretch's start or end may be from where the
// source really starts or stops speaking.
const accuracyLimitMs = 100

// TestAccuracy plays synthetic participants and measures each stretch found
// against where the source really speaks (pauses up to the hangover
// bridged). Spans start and stop off the 20 ms frame grid; run with -v for
// the worst errors of each case.
func TestAccuracy(t *testing.T) {
	// three spans apart, starting and stopping mid-frame
	apart := []span{{510, 2027}, {3013, 5041}, {6007, 6779}}
	cases := []struct {
		name   string
		sc     script
		want   []span // default: merged(sc.src.spans)
		settle int64  // stretches ending before this are the floor adapting, not counted
	}{
		{name: "DTX pauses, no frames between spans", sc: script{
			src: source{spans: apart}, totalMs: 7500,
			dtx: []span{{0, 500}, {2040, 3000}, {5060, 6000}, {6800, 7500}},
		}},
		{name: "DTX pauses, last span closed by EndCall", sc: script{
			src: source{spans: apart}, totalMs: 6800,
			dtx: []span{{0, 500}, {2040, 3000}, {5060, 6000}}, endCall: 7000,
		}},
		{name: "encoded silence, frames of zeros", sc: script{
			src: source{spans: apart}, totalMs: 7500,
		}},
		{name: "encoded silence, level 127 packets", sc: script{
			src: source{spans: apart}, totalMs: 7500, format: levelPackets,
		}},
		{name: "DTX pauses, packets with levels", sc: script{
			src: source{spans: apart}, totalMs: 7500, format: levelPackets,
			dtx: []span{{0, 500}, {2040, 3000}, {5060, 6000}, {6800, 7500}},
		}},
		{name: "60 ms packets with levels", sc: script{
			src: source{spans: apart}, totalMs: 7500, format: levelPackets, packetMs: 60,
		}},
		{name: "decoded frames with levels", sc: script{
			src: source{spans: apart, noiseDB: -55}, totalMs: 7500, format: pcmWithLevel,
		}},
		{name: "200 ms inner pauses do not split", sc: script{
			src:     source{spans: []span{{505, 1213}, {1413, 2009}, {2209, 3011}, {3211, 3590}}},
			totalMs: 4500,
		}},
		{name: "200 ms inner pauses as DTX do not split", sc: script{
			src:     source{spans: []span{{500, 1220}, {1420, 2000}, {2200, 3000}}},
			totalMs: 4000, dtx: []span{{1220, 1420}, {2000, 2200}, {3000, 4000}},
		}},
		{name: "500 ms pauses split", sc: script{
			src:     source{spans: []span{{505, 1213}, {1713, 2509}, {3009, 3611}}},
			totalMs: 4500,
		}},
		{name: "speech after a loss: onset concealed", sc: script{
			src:     source{spans: []span{{1000, 2513}, {3510, 4500}}},
			totalMs: 5500, lost: []span{{1000, 1060}, {3500, 3580}},
		}},
		{name: "losses inside speech are neutral", sc: script{
			src:     source{spans: []span{{1005, 3513}}},
			totalMs: 4500, lost: []span{{1500, 1600}, {2000, 2240}, {3520, 3700}},
		}},
		{name: "losses as packets: the clock jumps", sc: script{
			src:     source{spans: []span{{1000, 2513}, {3510, 4500}}},
			totalMs: 5500, lost: []span{{1000, 1060}, {1500, 1600}, {3500, 3580}}, format: levelPackets,
		}},
		{name: "comfort noise background -55 dBFS", sc: script{
			src: source{spans: apart, noiseDB: -55}, totalMs: 7500,
		}},
		{name: "quiet room background -65 dBFS, 200 and 500 ms pauses", sc: script{
			src:     source{spans: []span{{505, 1213}, {1413, 2009}, {2509, 3011}}, noiseDB: -65},
			totalMs: 4000,
		}},
		{name: "steady -40 dBFS noise, floor adapted", sc: script{
			src:     source{spans: []span{{6010, 7517}, {8503, 10041}, {10541, 11013}}, noiseDB: -40},
			totalMs: 12000,
		}, settle: 5000},
	}
	var worstOnset, worstEnd int64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness()
			edges := h.play(c.sc, "alice")
			got := stretches(t, edges, "alice")
			for len(got) > 0 && got[0].to < c.settle {
				t.Logf("while the floor adapts: %v (%d ms)", got[0], got[0].to-got[0].from)
				got = got[1:]
			}
			want := c.want
			if want == nil {
				want = merged(c.sc.src.spans)
			}
			if c.sc.endCall > 0 {
				want[len(want)-1].to = min(want[len(want)-1].to, c.sc.endCall)
			}
			onset, end, mismatch := errorsOf(got, want)
			if mismatch != "" {
				t.Fatal(mismatch)
			}
			t.Logf("%s (%s): worst onset error %d ms, end error %d ms (%d stretches)", c.name, c.sc.format, onset, end, len(got))
			if onset > accuracyLimitMs || end > accuracyLimitMs {
				t.Errorf("stretches %v, want %v: onset error %d ms, end error %d ms, over %d", got, want, onset, end, accuracyLimitMs)
			}
			worstOnset, worstEnd = max(worstOnset, onset), max(worstEnd, end)
		})
	}
	t.Logf("worst of all cases: onset %d ms, end %d ms", worstOnset, worstEnd)
}
