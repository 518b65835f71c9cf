package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot/internal/procstat"
	"github.com/mediabot-dev/mediabot/internal/promtext"
)

// Credentials graphsim and the bot share; graphsim signs the bot's
// notifications, the bot checks them against graphsim's JWKS.
const (
	tenantID     = "10ad10ad-0000-4000-8000-00000000aaaa"
	clientID     = "10ad10ad-0000-4000-8000-00000000b0b0"
	clientSecret = "load-secret"
)

// rungResult is what one rung measured.
type rungResult struct {
	calls, expected int
	streams         float64 // mean of mediabot_streams_active over the window
	window          time.Duration
	botCores        float64 // bot CPU seconds per second of the window
	simCores        float64 // graphsim's, for context: they share the cores
	otherCores      float64 // the rest of the machine's busy time: other processes
	redials         int
	udpDrops        float64 // kernel receive-buffer drops of UDP datagrams during the rung
	cpuPerPacket    time.Duration
	floor           time.Duration // mean of the window's samples
	floorSpread     floorSpread
	rssPerCall      float64 // bytes
	goroutinesCall  float64
	readerBusy      float64 // the busiest media port reader's share of a core
	sent, received  float64
	lost, late      float64 // lost: max(sequence gaps, sent - received) + ring overflows; late: arrived after their slot
	over60          float64 // frames delivered more than 60 ms after their packet arrived
	frames          float64 // frames timed by the delay histogram
	p50, p99        time.Duration
	refusedCalls    int     // rejected busy by the bot's admission, after every redial
	failedCalls     int     // failed for any other reason
	short           bool    // fewer streams than expected came up during the ramp
	cameUp          float64 // the most streams active during the ramp
	notes           []string
	broke           bool    // the bot died, or the calls did not all come up
	maxLoad         float64 // highest mediabot_load_state seen: 0 normal, 1 heavy, 2 overloaded
	// refusingAt and firstLateAt are when, after graphsim started, the
	// bot first refused new calls (mediabot_accepting_calls 0: overloaded,
	// measured or projected) and first delivered a frame more than 60 ms
	// after its packet arrived (-1: never, as far as polled).
	refusingAt, firstLateAt time.Duration
	// held is the streams active at each scrape, from graphsim's start;
	// capacity the bot's own figure (mediabot_capacity_streams), last seen.
	held     []heldSample
	capacity float64
}

// heldSample is the streams active at a moment after graphsim started.
type heldSample struct {
	at      time.Duration
	streams float64
}

// peakHeld is the most streams active at once, and when the streams first
// reached 95 % of it: how long the bot took to fill up (-1 if never held).
func (r *rungResult) peakHeld() (peak float64, reached time.Duration) {
	for _, h := range r.held {
		peak = max(peak, h.streams)
	}
	for _, h := range r.held {
		if peak > 0 && h.streams >= 0.95*peak {
			return peak, h.at
		}
	}
	return peak, -1
}

// heldAt is the streams active at the last scrape no later than at.
func (r *rungResult) heldAt(at time.Duration) float64 {
	n := 0.0
	for _, h := range r.held {
		if h.at > at {
			break
		}
		n = h.streams
	}
	return n
}

// follow notes, from one scrape at elapsed, the first refusal of new calls
// and the first late frame.
func (r *rungResult) follow(s, idle promtext.Sample, elapsed time.Duration) {
	r.maxLoad = max(r.maxLoad, s["mediabot_load_state"])
	r.held = append(r.held, heldSample{at: elapsed, streams: s["mediabot_streams_active"]})
	r.capacity = s["mediabot_capacity_streams"]
	if _, ok := s["mediabot_accepting_calls"]; ok && r.refusingAt < 0 && s["mediabot_accepting_calls"] == 0 {
		r.refusingAt = elapsed
	}
	h := s.Hist("mediabot_frame_delay_seconds").Minus(idle.Hist("mediabot_frame_delay_seconds"))
	if late := h.Above(0.06); r.firstLateAt < 0 && late > 0 {
		r.firstLateAt = elapsed
	}
}

// badPct is frames lost or late as a percentage of the packets sent.
func (r *rungResult) badPct() float64 {
	if r.sent == 0 {
		return math.NaN()
	}
	return 100 * (r.lost + r.late + r.over60) / r.sent
}

// rungConfig is what every rung shares.
type rungConfig struct {
	botBin, simBin string
	participants   int
	duration       time.Duration
	stagger        time.Duration
	redial         time.Duration
	priority       int      // nice value of the bot (and graphsim, unless simPriority)
	simPriority    int      // nice value of graphsim
	sink           string   // "file" or "none"
	botArgs        []string // more flags for mediabot serve
	workDir        string   // logs and recordings
	floor          *opusFloor
}

var (
	totalsRE  = regexp.MustCompile(`^totals calls=(\d+) ok=(\d+) rejected=(\d+) failed=(\d+) packets_sent=(\d+)`)
	redialsRE = regexp.MustCompile(`redials=(\d+)`)
)

// runRung plays calls concurrent calls against a fresh bot and measures it.
func runRung(ctx context.Context, rc rungConfig, calls int) (*rungResult, error) {
	r := &rungResult{calls: calls, expected: calls * rc.participants, refusingAt: -1, firstLateAt: -1}
	simPort, err := freePort()
	if err != nil {
		return nil, err
	}
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	outDir := ""
	if rc.sink == "file" {
		outDir = filepath.Join(rc.workDir, fmt.Sprintf("recordings-%d", calls))
		defer os.RemoveAll(outDir)
	}
	bot, err := start("mediabot", rc.botBin, append([]string{"serve",
		"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--media-bind-ip", "127.0.0.1", "--media-public-ip", "127.0.0.1",
		"--graph-url", simURL + "/v1.0", "--token-url", simURL + "/" + tenantID + "/oauth2/v2.0/token",
		"--inbound-jwks-url", simURL + "/keys",
		"--tenant-id", tenantID, "--client-id", clientID, "--client-secret", clientSecret,
		"--out-dir", outDir, "--drain-timeout", "5s",
	}, rc.botArgs...), filepath.Join(rc.workDir, fmt.Sprintf("mediabot-%d.log", calls)))
	if err != nil {
		return nil, err
	}
	defer func() {
		if bot.stop(10 * time.Second) {
			r.notes = append(r.notes, "bot needed SIGKILL")
		}
	}()
	setPriority(bot, rc.priority)
	ready, err := bot.waitLine("msg=ready", 15*time.Second)
	if err != nil {
		return nil, err
	}
	addr, ops := field(ready, "http_addr"), field(ready, "ops_addr")
	if addr == "" || ops == "" {
		return nil, fmt.Errorf("no http_addr or ops_addr in %q", ready)
	}
	metricsURL := "http://" + ops + "/metrics"
	client := &http.Client{Timeout: 5 * time.Second}

	time.Sleep(time.Second)
	idle, err := promtext.Scrape(ctx, client, metricsURL)
	if err != nil {
		return nil, err
	}
	idleRSS, err := procstat.RSSBytes(bot.pid())
	if err != nil {
		return nil, err
	}

	sim, err := start("graphsim", rc.simBin, []string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", simPort), "--bot-url", "http://" + addr + "/api/calls",
		"--tenant-id", tenantID, "--client-id", clientID, "--client-secret", clientSecret,
		"--concurrent", strconv.Itoa(calls), "--participants", strconv.Itoa(rc.participants),
		"--duration", rc.duration.String(), "--stagger", rc.stagger.String(), "--redial", rc.redial.String(),
	}, filepath.Join(rc.workDir, fmt.Sprintf("graphsim-%d.log", calls)))
	if err != nil {
		return nil, err
	}
	simStart := time.Now()
	drops0, _ := procstat.UDPRcvbufErrors()
	setPriority(sim, rc.simPriority)
	defer sim.stop(5 * time.Second)

	// Ramp: wait until every stream is up, or its count stops growing.
	rampEnd := time.Now().Add(rc.stagger + rc.redial + 20*time.Second)
	best, bestAt := 0.0, time.Now()
	for {
		if !bot.alive() {
			r.broke = true
			return r, fmt.Errorf("the bot exited during the ramp: %v", bot.err)
		}
		s, err := promtext.Scrape(ctx, client, metricsURL)
		if err == nil {
			r.follow(s, idle, time.Since(simStart))
			if a := s["mediabot_streams_active"]; a > best {
				best, bestAt = a, time.Now()
			}
		}
		if best >= float64(r.expected) {
			break
		}
		if time.Now().After(rampEnd) || (best > 0 && time.Since(bestAt) > rc.stagger+rc.redial+5*time.Second) || !sim.alive() {
			r.short, r.cameUp = true, best // refused, or broken: the totals tell
			break
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Steady window: every call is playing, until a second before the
	// first call can end; CPU, RSS and goroutines.
	time.Sleep(time.Second)
	window := max(time.Until(simStart.Add(rc.duration))-time.Second, 2*time.Second)
	if !r.broke && window < 5*time.Second {
		r.notes = append(r.notes, fmt.Sprintf("steady window only %s: lengthen --duration", window.Round(time.Second)))
	}
	cpu0, _ := procstat.CPUSeconds(bot.pid())
	simCPU0, _ := procstat.CPUSeconds(sim.pid())
	busy0, _ := procstat.MachineBusySeconds()
	t0 := time.Now()
	var streamSum, rssSum, gorSum float64
	var n int
	var first, last promtext.Sample
	var firstAt, lastAt time.Time
	for time.Since(t0) < window {
		for range time.Second / sampleEvery {
			time.Sleep(sampleEvery)
			if err := rc.floor.sample(rc.priority); err != nil {
				return r, fmt.Errorf("floor: %w", err)
			}
		}
		s, err := promtext.Scrape(ctx, client, metricsURL)
		rss, err2 := procstat.RSSBytes(bot.pid())
		if err != nil || err2 != nil {
			if !bot.alive() {
				r.broke = true
				return r, fmt.Errorf("the bot exited during the window: %v", bot.err)
			}
			continue
		}
		if first == nil {
			first, firstAt = s, time.Now()
		}
		last, lastAt = s, time.Now()
		streamSum += s["mediabot_streams_active"]
		r.follow(s, idle, time.Since(simStart))
		rssSum += rss
		gorSum += s["go_goroutines"]
		n++
	}
	cpu1, _ := procstat.CPUSeconds(bot.pid())
	simCPU1, err := procstat.CPUSeconds(sim.pid())
	if err != nil {
		simCPU1 = math.NaN() // graphsim ended inside the window
	}
	busy1, _ := procstat.MachineBusySeconds()
	r.window = time.Since(t0)
	if n == 0 {
		return r, fmt.Errorf("no metrics during the window")
	}
	if r.floor, r.floorSpread, err = rc.floor.take(); err != nil {
		return r, err
	}
	r.streams = streamSum / float64(n)
	r.readerBusy = busiestReader(first, last, lastAt.Sub(firstAt))
	r.botCores = (cpu1 - cpu0) / r.window.Seconds()
	r.simCores = (simCPU1 - simCPU0) / r.window.Seconds()
	r.otherCores = (busy1-busy0)/r.window.Seconds() - r.botCores - r.simCores
	r.cpuPerPacket = -1 // no stream in the window
	if packets := r.streams * float64(r.window/(20*time.Millisecond)); packets > 0 {
		r.cpuPerPacket = time.Duration((cpu1 - cpu0) / packets * float64(time.Second))
	}
	r.rssPerCall = (rssSum/float64(n) - idleRSS) / float64(calls)
	r.goroutinesCall = (gorSum/float64(n) - idle["go_goroutines"]) / float64(calls)

	// The calls end; the stream counters reach Prometheus as streams end.
	select {
	case <-sim.exited:
	case <-time.After(rc.duration + rc.stagger + 60*time.Second):
		r.notes = append(r.notes, "graphsim overran; stopped")
		sim.stop(5 * time.Second)
	}
	r.sent = -1
	for done := false; !done; {
		select {
		case l := <-sim.lines:
			if m := totalsRE.FindStringSubmatch(l); m != nil {
				r.sent, _ = strconv.ParseFloat(m[5], 64)
				r.refusedCalls, _ = strconv.Atoi(m[3])
				r.failedCalls, _ = strconv.Atoi(m[4])
			}
			if m := redialsRE.FindStringSubmatch(l); m != nil && strings.HasPrefix(l, "totals ") {
				r.redials, _ = strconv.Atoi(m[1])
			}
		default:
			done = true
		}
	}
	if r.redials > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d redials after busy rejections", r.redials))
	}
	if r.refusedCalls > 0 {
		r.notes = append(r.notes, fmt.Sprintf("admission refused %d calls busy (after every redial)", r.refusedCalls))
	}
	if r.failedCalls > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d calls failed (see graphsim log)", r.failedCalls))
	}
	// Streams short of expected are the bot's refusal when the refused
	// calls account for them; anything else is a failure.
	if r.short {
		missing := float64(r.expected) - r.cameUp
		if r.failedCalls > 0 || missing > float64(r.refusedCalls*rc.participants) {
			r.broke = true
		}
		r.notes = append(r.notes, fmt.Sprintf("%.0f of %d streams came up", r.cameUp, r.expected))
	}
	var final promtext.Sample
	for deadline := time.Now().Add(20 * time.Second); ; {
		final, err = promtext.Scrape(ctx, client, metricsURL)
		if ctx.Err() != nil {
			return r, ctx.Err() // interrupted: the bot is being stopped
		}
		if err == nil && final["mediabot_streams_active"] == 0 && final["mediabot_calls_live"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				return r, fmt.Errorf("final metrics: %w", err)
			}
			r.notes = append(r.notes, fmt.Sprintf("%.0f streams still active after the calls ended", final["mediabot_streams_active"]))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	drops1, _ := procstat.UDPRcvbufErrors()
	r.udpDrops = drops1 - drops0
	r.received = final.RTP("packets") - idle.RTP("packets")
	gaps := final.RTP("lost") - idle.RTP("lost")
	overflows := final.Sum("mediabot_ring_overflows_total") - idle.Sum("mediabot_ring_overflows_total")
	if r.sent < 0 {
		r.notes = append(r.notes, "no totals from graphsim: sent taken as received + lost")
		r.sent = r.received + gaps
	}
	r.lost = max(gaps, r.sent-r.received) + overflows
	r.late = final.RTP("late") - idle.RTP("late")
	h := final.Hist("mediabot_frame_delay_seconds").Minus(idle.Hist("mediabot_frame_delay_seconds"))
	r.frames = h.Count
	r.over60 = h.Above(0.06)
	if math.IsNaN(r.over60) {
		r.over60 = 0
		r.notes = append(r.notes, "no 60 ms bucket in mediabot_frame_delay_seconds")
	}
	r.p50, r.p99 = h.Quantile(0.50), h.Quantile(0.99)
	if !bot.alive() {
		r.broke = true
		r.notes = append(r.notes, fmt.Sprintf("the bot exited: %v", bot.err))
	}
	return r, nil
}

// field returns key's value in a logfmt line.
func field(line, key string) string {
	for _, kv := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// busiestReader is the highest share of the time between two scrapes that a
// media port's reader spent on packets.
func busiestReader(first, last promtext.Sample, between time.Duration) float64 {
	const name = "mediabot_media_reader_busy_seconds_total{"
	busiest := 0.0
	if between <= 0 {
		return busiest
	}
	for series, v := range last {
		if strings.HasPrefix(series, name) {
			busiest = max(busiest, (v-first[series])/between.Seconds())
		}
	}
	return busiest
}
