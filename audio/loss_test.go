package audio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"gopkg.in/hraban/opus.v2"

	"github.com/mediabot-dev/mediabot/event"
)

// The loss test's call: 10 s of a voice-like signal in 20 ms Opus packets
// whose sequence numbers and timestamps both wrap during the call.
const (
	voicePackets = 500
	voiceSeq0    = 65300
	voiceTS0     = math.MaxUint32 - 200_000
)

// minCorrelation is what the impaired path must keep of the clean one: the
// normalised cross-correlation of its 10 s of output against the same packets
// decoded without impairment. With 5 % loss concealed by FEC and PLC it
// measures 0.997 at 16 and 48 kHz; with the concealed frames silenced instead
// it drops to 0.975, below the bar: the bar holds concealment to account.
const minCorrelation = 0.99

// voiceRTP is the encoded call, made once: a 200 Hz voice with harmonics at
// 400 and 600 Hz, its loudness swinging at a syllable rate of 4 Hz, encoded
// as a WebRTC voice sender does (in-band FEC on, expecting 10 % loss).
var voiceRTP = sync.OnceValues(func() ([][]byte, error) {
	enc, err := opus.NewEncoder(opusClock, 1, opus.AppVoIP)
	if err != nil {
		return nil, err
	}
	if err := enc.SetInBandFEC(true); err != nil {
		return nil, err
	}
	if err := enc.SetPacketLossPerc(10); err != nil {
		return nil, err
	}
	const samples = opusClock * FrameMs / 1000
	pcm := make([]int16, samples)
	buf := make([]byte, 4000)
	var packets [][]byte
	for i := range voicePackets {
		for k := range pcm {
			s := float64(i*samples+k) / opusClock
			env := 0.55 + 0.45*math.Sin(2*math.Pi*4*s)
			x := math.Sin(2*math.Pi*200*s) + 0.5*math.Sin(2*math.Pi*400*s+0.3) + 0.25*math.Sin(2*math.Pi*600*s+0.7)
			pcm[k] = int16(7000 * env * x)
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			return nil, err
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: testSSRC,
			SequenceNumber: uint16(voiceSeq0 + i), Timestamp: uint32(voiceTS0 + i*samples)},
			Payload: buf[:n]}
		b, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		packets = append(packets, b)
	}
	return packets, nil
})

func voicePacketsFor(t testing.TB) [][]byte {
	t.Helper()
	packets, err := voiceRTP()
	if err != nil {
		t.Fatal(err)
	}
	return packets
}

// A sent packet as the network delivers it.
type delivery struct {
	slot int // arrival, in 20 ms slots from the first packet
	b    []byte
}

// impairment is what a seeded network did to the call.
type impairment struct {
	deliveries []delivery // in arrival order
	dropped    []bool     // by packet index
	lost       int
	duplicated int
	delayed    int
}

// impair loses 5 % of the packets, delays some by one or two slots (so they
// arrive after later ones) and duplicates 1 %. The first and last packets
// always arrive on time: a loss is only known between two packets, and the
// first packet starts the media clock. Loss runs stop at what DefaultConcealMs
// conceals, so every loss is a concealed frame.
func impair(packets [][]byte, seed uint64) impairment {
	rng := rand.New(rand.NewPCG(seed, 0x10557e57))
	im := impairment{dropped: make([]bool, len(packets))}
	run := 0
	for i, b := range packets {
		edge := i == 0 || i == len(packets)-1
		if !edge && run < DefaultConcealMs/FrameMs && rng.Float64() < 0.05 {
			im.dropped[i] = true
			im.lost++
			run++
			continue
		}
		run = 0
		slot := i
		if !edge && rng.Float64() < 0.15 {
			slot += 1 + rng.IntN(2)
			im.delayed++
		}
		im.deliveries = append(im.deliveries, delivery{slot, b})
		if rng.Float64() < 0.01 {
			im.deliveries = append(im.deliveries, delivery{slot + rng.IntN(3), b})
			im.duplicated++
		}
	}
	slices.SortStableFunc(im.deliveries, func(a, b delivery) int { return a.slot - b.slot })
	return im
}

// correlation is the normalised cross-correlation of a and b at lag 0.
func correlation(a, b []int16) float64 {
	var ab, aa, bb float64
	for i := range min(len(a), len(b)) {
		x, y := float64(a[i]), float64(b[i])
		ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// cleanOutput decodes the call without impairment: the reference, with the
// same codec delay as the impaired output.
func cleanOutput(t *testing.T, packets [][]byte, rate int) []int16 {
	t.Helper()
	c := &frames{}
	st := newTestStream(t, rate, c)
	for i, b := range packets {
		st.Push(b, arrival(i))
	}
	st.Flush()
	if len(c.got) != len(packets) {
		t.Fatalf("clean call: %d frames, want %d", len(c.got), len(packets))
	}
	return c.pcm()
}

// TestStreamThroughLossReorderingAndDuplicates is the acceptance test of the
// receive path: a 10 s call through a lossy, reordering, duplicating network
// comes out exactly 10 s long, every loss concealed in its place, and still
// sounding like the call.
func TestStreamThroughLossReorderingAndDuplicates(t *testing.T) {
	packets := voicePacketsFor(t)
	im := impair(packets, 1)
	t.Logf("network: %d lost, %d delayed, %d duplicated", im.lost, im.delayed, im.duplicated)
	for _, rate := range []int{16000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			c := &frames{}
			r := NewRing(2 * voicePackets)
			st, err := NewStream(StreamConfig{
				CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", ClockRate: opusClock,
				SampleRate: rate, MediaStart: mediaStart, Consumer: c, Rings: []*Ring{r},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range im.deliveries {
				st.Push(d.b, arrival(d.slot))
			}
			st.Flush()

			if len(c.got) != voicePackets {
				t.Fatalf("%d frames, want exactly %d (10 s)", len(c.got), voicePackets)
			}
			concealed := 0
			for i, f := range c.got {
				if want := int64(500 + FrameMs*i); f.MediaTimeMs != want {
					t.Fatalf("frame %d at %d ms, want %d: a gap or an overlap", i, f.MediaTimeMs, want)
				}
				if want := uint32(voiceTS0 + i*960); f.RTPTimestamp != want || f.Seq != uint16(voiceSeq0+i) {
					t.Errorf("frame %d: Seq %d RTPTimestamp %d, want %d %d", i, f.Seq, f.RTPTimestamp, uint16(voiceSeq0+i), want)
				}
				if len(f.PCM) != rate*FrameMs/1000 {
					t.Fatalf("frame %d: %d samples", i, len(f.PCM))
				}
				if f.Concealed != im.dropped[i] {
					t.Errorf("frame %d: Concealed %v, but the packet was dropped: %v", i, f.Concealed, im.dropped[i])
				}
				if f.Concealed {
					concealed++
				}
			}
			s := st.Stats()
			t.Logf("stats %+v", s)
			if s.Lost != uint64(im.lost) || s.Duplicates != uint64(im.duplicated) || s.Late != 0 || s.DecodeErrors != 0 {
				t.Errorf("Lost %d Duplicates %d Late %d DecodeErrors %d; want %d, %d, 0, 0",
					s.Lost, s.Duplicates, s.Late, s.DecodeErrors, im.lost, im.duplicated)
			}
			if s.ConcealedFEC+s.ConcealedPLC != s.Lost || uint64(concealed) != s.Lost {
				t.Errorf("ConcealedFEC %d + ConcealedPLC %d, %d concealed frames; want %d", s.ConcealedFEC, s.ConcealedPLC, concealed, s.Lost)
			}
			if s.ConcealedFEC == 0 {
				t.Error("no loss was concealed from in-band FEC")
			}
			if s.Reordered == 0 || s.RingOverflows != 0 || r.Len() != voicePackets {
				t.Errorf("Reordered %d, RingOverflows %d, ring Len %d", s.Reordered, s.RingOverflows, r.Len())
			}

			clean := cleanOutput(t, packets, rate)
			got := c.pcm()
			silenced := slices.Clone(got)
			n := rate * FrameMs / 1000
			for i, f := range c.got {
				if f.Concealed {
					clear(silenced[i*n : (i+1)*n])
				}
			}
			withConcealment, withSilence := correlation(got, clean), correlation(silenced, clean)
			t.Logf("correlation with the clean call: %.5f concealed, %.5f with silence instead", withConcealment, withSilence)
			if withConcealment < minCorrelation {
				t.Errorf("correlation %.4f, want at least %.2f", withConcealment, minCorrelation)
			}
			if withSilence >= withConcealment {
				t.Errorf("silence instead of concealment correlates as well (%.4f >= %.4f): the metric does not see concealment",
					withSilence, withConcealment)
			}
		})
	}
}

// TestStreamAndDrainerRunConcurrently feeds the impaired call on one
// goroutine while a Drainer empties the stream's ring on its own.
func TestStreamAndDrainerRunConcurrently(t *testing.T) {
	im := impair(voicePacketsFor(t), 2)
	c := &lockedFrames{}
	d := NewDrainer(c, time.Millisecond)
	defer d.Close()
	r := NewRing(64)
	d.Add(r)
	st, err := NewStream(StreamConfig{
		CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", ClockRate: opusClock,
		SampleRate: 16000, MediaStart: mediaStart, Rings: []*Ring{r},
	})
	if err != nil {
		t.Fatal(err)
	}
	fed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for _, dv := range im.deliveries {
			for r.Len() > 32 { // keep room for what one packet may release
				if time.Now().After(deadline) {
					fed <- fmt.Errorf("the drainer fell behind: %d frames waiting", r.Len())
					return
				}
				time.Sleep(time.Millisecond)
			}
			st.Push(dv.b, arrival(dv.slot))
		}
		st.Flush()
		fed <- nil
	}()
	select {
	case err := <-fed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the feeder has not finished after 30 s")
	}
	returnsWithin(t, 5*time.Second, "Remove", func() { d.Remove(r) })
	if got := c.count(); got != voicePackets || r.Overflows() != 0 {
		t.Fatalf("%d frames drained, %d overflowed; want %d, 0", got, r.Overflows(), voicePackets)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.got {
		if want := int64(500 + FrameMs*i); f.MediaTimeMs != want || f.Concealed != im.dropped[i] {
			t.Fatalf("frame %d at %d ms (concealed %v), want %d ms (%v)", i, f.MediaTimeMs, f.Concealed, want, im.dropped[i])
		}
	}
}

// TestStreamConcealsAJumpBeyondTheWindow: a packet more than the window
// ahead, with nothing held, gives up on the whole gap (it once spun forever).
func TestStreamConcealsAJumpBeyondTheWindow(t *testing.T) {
	c := &frames{}
	st := newTestStream(t, 16000, c)
	snd := newSender(t)
	st.Push(snd.next(20), arrival(0))
	snd.seq += 39 // packets 1 to 39 are lost: 780 ms, more than the window
	snd.ts += 39 * 960
	returnsWithin(t, 5*time.Second, "Push after a jump of 40", func() { st.Push(snd.next(20), arrival(40)) })
	st.Flush() // the window made room for 40; the rest of the gap waits for maxWait
	var times []int64
	for _, f := range c.got {
		times = append(times, f.MediaTimeMs)
	}
	// Concealment for DefaultConcealMs, silence (no frames) for the rest.
	want := []int64{500, 520, 540, 560, 580, 600, 1300}
	if !slices.Equal(times, want) {
		t.Errorf("frames at %v ms, want %v", times, want)
	}
	if s := st.Stats(); s.Lost != 39 || s.ConcealedPLC+s.ConcealedFEC != 5 {
		t.Errorf("stats %+v, want 39 lost, 5 concealed", s)
	}
}

// TestStreamPushWithRingsDoesNotAllocate holds Push, fanning out to rings and
// naming the speaker, to its hot-path promise, with and without losses.
func TestStreamPushWithRingsDoesNotAllocate(t *testing.T) {
	const runs = 50
	tone := func(t *testing.T) func() []byte { snd := newSender(t); return func() []byte { return snd.next(20) } }
	voice := func(t *testing.T) func() []byte {
		packets, i := voicePacketsFor(t), 0
		return func() []byte { i++; return packets[i-1] }
	}
	tests := []struct {
		name   string
		source func(t *testing.T) func() []byte
		lose   bool // every run loses a packet, then pushes until it is concealed
		check  func(s *Stream) error
	}{
		{"in-order packets", tone, false, func(s *Stream) error { return nil }},
		{"a gap concealed by PLC", tone, true, func(s *Stream) error {
			if c := s.Stats(); c.ConcealedPLC != runs+1 {
				return fmt.Errorf("%d concealed by PLC, want %d", c.ConcealedPLC, runs+1)
			}
			return nil
		}},
		{"a gap concealed by FEC", voice, true, func(s *Stream) error {
			if c := s.Stats(); c.ConcealedFEC == 0 || c.Lost != runs+1 {
				return fmt.Errorf("%d lost, %d concealed by FEC", c.Lost, c.ConcealedFEC)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rings := []*Ring{NewRing(512), NewRing(512)}
			st, err := NewStream(StreamConfig{
				CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", SampleRate: 16000,
				MediaStart: mediaStart, Rings: rings,
				Participant: func(uint32) (string, *event.Identity) { return "alice", nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			next := tt.source(t)
			per := 1
			if tt.lose {
				per = 5 // one lost, then 4: the 4th arrives maxWait after the 1st
			}
			packets := make([][]byte, 1+(runs+1)*per) // AllocsPerRun runs once more to warm up
			for i := range packets {
				packets[i] = next()
			}
			st.Push(packets[0], arrival(0)) // a loss is only a loss after a first packet
			i := 1
			allocs := testing.AllocsPerRun(runs, func() {
				for k := range per {
					if !tt.lose || k > 0 {
						st.Push(packets[i], arrival(i))
					}
					i++
				}
			})
			if allocs != 0 {
				t.Errorf("Push allocates %v times per run, want 0", allocs)
			}
			if err := tt.check(st); err != nil {
				t.Error(err)
			}
			if want := 1 + (runs+1)*per; rings[0].Len() != want || rings[1].Len() != want || rings[0].Overflows() != 0 {
				t.Errorf("rings hold %d and %d frames, want %d each", rings[0].Len(), rings[1].Len(), want)
			}
		})
	}
}
