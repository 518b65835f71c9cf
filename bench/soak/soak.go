package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/call"
	"github.com/mediabot-dev/mediabot/internal/procstat"
	"github.com/mediabot-dev/mediabot/internal/promtext"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/sink"
)

// config is one soak run's settings.
type config struct {
	duration   time.Duration // of the churn
	calls      int           // kept live
	callLength time.Duration // the book's plans last half, once or one and a half times this
	workDir    string        // the log, and the recordings under recordings/
}

// result is what one soak run measured.
type result struct {
	cfg             config
	base, peak, end usage
	settled         time.Duration // from the bot holding no call to the end's measurement
	calls           counts
	meanHeld        float64
	// From the bot's /metrics, over the churn: frames the file sink got
	// from packets (not concealment), packets received, lost, and frames
	// dropped because a consumer fell behind.
	frames, received, lost, overflows float64
	cpuCores, otherCores              float64 // this process's and the rest of the machine's, over the churn and its tail
	loadBefore, loadAfter             string
	began                             time.Time
	// churned is how long calls kept starting; tail, how long the last
	// of them took to end after that.
	churned, tail time.Duration
	interrupted   bool
}

// Recordings of ended calls are deleted by the file sink's own retention
// after retainRecordings, or the out-dir would grow by 3 MB a second.
const retainRecordings = time.Minute

// sampleEvery is how often the churn's peaks are sampled.
const sampleEvery = 2 * time.Second

// soak runs the bot and graphsim in this process, warms them up with one
// call of every plan, measures the baseline, churns for cfg.duration (or
// until ctx ends), waits for the last call to end, and measures again.
func soak(ctx context.Context, cfg config, progress io.Writer) (*result, error) {
	r := &result{cfg: cfg, began: time.Now(), loadBefore: procstat.LoadAverage()}
	logFile, err := os.Create(filepath.Join(cfg.workDir, "soak.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	sim, err := graphsim.Start(graphsim.Config{TenantID: mediabottest.TenantID, ClientID: mediabottest.ClientID,
		ClientSecret: mediabottest.ClientSecret, Logger: log})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	outDir := filepath.Join(cfg.workDir, "recordings")
	files, err := sink.NewFileSink(outDir, mediabot.DefaultConfig().SampleRate, log)
	if err != nil {
		return nil, err
	}
	files.StartRetention(retainRecordings, retainRecordings/4)
	arm := newArmer(sim, mediabot.DefaultPolicy(cfg.calls))
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, Logger: log,
		Configure: func(c *mediabot.Config) { c.MaxCalls, c.MediaIdleTimeout = cfg.calls, mediaIdle },
		// The load is fixed at normal: the bot refuses calls for being
		// full, not because other people's jobs keep a shared machine busy.
		BotOptions: []mediabot.Option{mediabot.WithSink(files), mediabot.WithPolicy(arm.policy), mediabot.WithLoadFunc(steadyLoad)}})
	if err != nil {
		_ = files.Close()
		return nil, err
	}
	defer srv.Close()
	w, err := newWatcher(srv.Bot, outDir)
	if err != nil {
		return nil, err
	}
	scraper := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	metricsURL := srv.OpsURL + "/metrics"
	newChurn := func() *churn {
		return &churn{sim: sim, webhook: srv.Webhook, armer: arm, callLength: cfg.callLength}
	}

	fmt.Fprintf(progress, "soak: warming up: one call of each of the %d plans\n", len(book))
	warm := newChurn()
	var wg sync.WaitGroup
	for k := range book {
		wg.Go(func() { warm.play(k) })
	}
	wg.Wait()
	if n := warm.tally.snapshot(); n.unexpected > 0 {
		fmt.Fprintf(progress, "soak: warm-up: %d unexpected outcomes: %v\n", n.unexpected, n.examples)
	}
	if err := srv.WaitIdle(call.ClosingBound + 20*time.Second); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	before, err := promtext.Scrape(ctx, scraper, metricsURL)
	if err != nil {
		return nil, err
	}
	r.base, _ = w.settle(scraper, unchanged())
	r.base.streams = before["mediabot_streams_active"]

	fmt.Fprintf(progress, "soak: churning %d calls for %s\n", cfg.calls, cfg.duration)
	c := newChurn()
	cctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	stopSampling := r.sample(cctx, w, scraper, metricsURL, &c.tally, progress)
	cpu0, _ := procstat.CPUSeconds(os.Getpid())
	busy0, _ := procstat.MachineBusySeconds()
	t0 := time.Now()
	churnEnded := make(chan time.Time, 1)
	context.AfterFunc(cctx, func() { churnEnded <- time.Now() })
	c.run(cctx, cfg.calls)
	r.interrupted = ctx.Err() != nil
	r.churned = (<-churnEnded).Sub(t0)
	r.tail = time.Since(t0) - r.churned
	cpu1, _ := procstat.CPUSeconds(os.Getpid())
	busy1, _ := procstat.MachineBusySeconds()
	r.cpuCores = (cpu1 - cpu0) / time.Since(t0).Seconds()
	r.otherCores = (busy1-busy0)/time.Since(t0).Seconds() - r.cpuCores
	r.calls = c.tally.snapshot()

	fmt.Fprintln(progress, "soak: the last calls ended; waiting for the bot to let go of them")
	if err := srv.WaitIdle(call.ClosingBound + 20*time.Second); err != nil {
		fmt.Fprintln(progress, "soak:", err) // the table shows the calls held
	}
	stopSampling()
	after, err := promtext.Scrape(context.Background(), scraper, metricsURL)
	if err != nil {
		return nil, err
	}
	r.frames = after["mediabot_frame_delay_seconds_count"] - before["mediabot_frame_delay_seconds_count"]
	r.received = after.RTP("packets") - before.RTP("packets")
	r.lost = after.RTP("lost") - before.RTP("lost")
	r.overflows = after.Sum("mediabot_ring_overflows_total") - before.Sum("mediabot_ring_overflows_total")
	r.end, r.settled = w.settle(scraper, func(u usage) bool { return withinMargins(r.base, u) })
	r.end.streams = after["mediabot_streams_active"]

	r.loadAfter = procstat.LoadAverage()
	return r, nil
}

// sample measures the process every sampleEvery until stopped, keeping the
// peaks, and the mean of the calls held while churn is on; it prints a line
// of progress every minute. The function it returns stops it and waits.
func (r *result) sample(churn context.Context, w *watcher, scraper *http.Client, metricsURL string, t *tally, progress io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var heldSum float64
		var n int
		start, lastPrint := time.Now(), time.Now()
		for sleep(ctx, sampleEvery) {
			u := w.measure(false)
			if s, err := promtext.Scrape(ctx, scraper, metricsURL); err == nil {
				u.streams = s["mediabot_streams_active"]
			}
			r.peak.raise(u)
			if churn.Err() == nil {
				heldSum += float64(u.held)
				n++
				r.meanHeld = heldSum / float64(n)
			}
			if time.Since(lastPrint) >= time.Minute {
				lastPrint = time.Now()
				k := t.snapshot()
				fmt.Fprintf(progress, "soak: %s: %d calls held, %.0f streams, %d goroutines, heap %s, RSS %s, %d fds; %d calls offered, %d unexpected\n",
					time.Since(start).Round(time.Second), u.held, u.streams, u.goroutines, mib(u.heap), mib(u.rss), u.fds, k.offered, k.unexpected)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func steadyLoad() mediabot.LoadState {
	return mediabot.LoadState{Level: mediabot.LoadNormal, Reason: "fixed by the soak", MachineIdle: 1}
}
