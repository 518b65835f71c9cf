package main

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// floorPackets is how much of each voice the floor cycles through: 10 s.
const floorPackets = 500

// sampleRounds is how many packets of every voice one sample decodes: with
// four voices about 0.4 ms of CPU.
const sampleRounds = 5

// sampleEvery is how often the floor is sampled during a rung's window:
// often and briefly, so that the samples see the machine at as many moments
// as the bot's own packets do.
const sampleEvery = 100 * time.Millisecond

// opusFloor is the libopus decode floor: the CPU time one 20 ms packet of
// the voices graphsim sends takes to decode at the bot's 16 kHz, one reused
// decoder per voice, nothing else. It is what the bot cannot go below per
// packet; the ladder reports the bot's CPU per packet as a ratio to it.
//
// It is sampled during each rung's steady window, beside the bot, because
// a shared VM's speed drifts by a third from one minute to the next; a
// sample counts the CPU time of its own thread, so waiting for a core while
// the bot and graphsim run does not inflate it. The floor is the samples'
// mean, as the bot's CPU per packet is a mean over the same window (a core
// shared with a busy hyperthread sibling decodes slower, for both).
type opusFloor struct {
	voices  [][][]byte
	decs    []*audio.OpusDecoder
	next    int // the packet of every voice the next sample starts at
	samples []time.Duration
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

// sample decodes the next sampleRounds packets of every voice and keeps the
// CPU time per packet. It runs at the bot's nice value, so the bot does not
// preempt it (and cool its caches) more than it preempts itself.
func (f *opusFloor) sample(nice int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice); err != nil {
			return fmt.Errorf("nice %d: %w", nice, err)
		}
	}
	c0, err := threadCPU()
	if err != nil {
		return err
	}
	for range sampleRounds {
		for v, packets := range f.voices {
			if _, err := f.decs[v].Decode(packets[f.next]); err != nil {
				return err
			}
		}
		f.next = (f.next + 1) % floorPackets
	}
	c1, err := threadCPU()
	if err != nil {
		return err
	}
	f.samples = append(f.samples, (c1-c0)/time.Duration(sampleRounds*len(f.voices)))
	return nil
}

// floorSpread is how the samples of one window spread around their mean.
type floorSpread struct{ p10, median, p90 time.Duration }

// take returns the mean of the samples since the last take and their
// spread, and forgets them.
func (f *opusFloor) take() (time.Duration, floorSpread, error) {
	if len(f.samples) == 0 {
		return 0, floorSpread{}, fmt.Errorf("no floor samples")
	}
	s := slices.Sorted(slices.Values(f.samples))
	f.samples = f.samples[:0]
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s)), floorSpread{s[len(s)/10], s[len(s)/2], s[len(s)*9/10]}, nil
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("thread CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
