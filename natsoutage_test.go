package mediabot_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// natsOutage is how long NATS is unreachable mid-call.
const natsOutage = 30 * time.Second

// A call goes on while NATS is unreachable for 30 s: the bot publishes to a
// real server that is shut down 2 s into the call's media and restarted on
// the same port and store. Within the backlog nothing is lost: every frame
// the NATS sink was given (all the bot made, but what a consumer starved
// past its ring lost, counted) and every event of the call is in the
// stream, once. With
// a backlog the outage overflows, the overflow is dropped and counted
// (Dropped, mediabot_sink_dropped_total{sink="nats"}), each dropped frame a
// gap in Mediabot-Seq, and reported: a sink.error when it starts and one
// saying how many the call lost once the backlog has drained, to the event
// consumers and in events.jsonl, counted in
// mediabot_sink_errors_total{sink="nats"}. Either way every frame stored
// is the WAV's audio at its Mediabot-Media-Time, and the WAV is the source.
func TestNATSOutageMidCall(t *testing.T) {
	if testing.Short() {
		t.Skip("NATS is down for 30 s")
	}
	t.Parallel()
	t.Run("within the backlog", func(t *testing.T) {
		t.Parallel()
		run := playThroughNATSOutage(t, natssink.Config{})
		if run.dropped != 0 || len(run.reports) != 0 {
			t.Errorf("%d messages dropped, sink.error reports %+v: want none within the backlog", run.dropped, run.reports)
		}
	})
	t.Run("past the backlog", func(t *testing.T) {
		t.Parallel()
		// A backlog of 5 s and a window of 1 s of the call's one speaker.
		run := playThroughNATSOutage(t, natssink.Config{MaxPending: 50, Backlog: 250})
		if run.dropped == 0 {
			t.Fatal("nothing dropped: the backlog held the outage")
		}
		if n := len(run.reports); n != 2 || !strings.Contains(run.reports[0].Error, "full") || run.reports[0].CallID != run.res.CallID {
			t.Fatalf("sink.error reports %+v, want the overflow and the drained backlog, of the call", run.reports)
		}
		want := fmt.Sprintf("backlog drained: %d frames and %d events of this call were dropped", run.missingFrames, run.missingEvents)
		if !strings.Contains(run.reports[1].Error, want) {
			t.Errorf("the drained backlog's report says %q, want %q", run.reports[1].Error, want)
		}
		file := 0
		for _, e := range readEvents(t, filepath.Join(run.callDir, "events.jsonl")) {
			if e.Type == event.SinkError && e.Sink == "nats" {
				file++
			}
		}
		if file != len(run.reports) {
			t.Errorf("events.jsonl holds %d sink.error events of NATS, the event consumer %d", file, len(run.reports))
		}
	})
}

// natsOutageRun is what a call through a NATS outage left: what the bot
// delivered and reported, and what the stream lacks.
type natsOutageRun struct {
	res     *graphsim.CallResult
	callDir string
	dropped uint64        // the NATS sink's Dropped()
	reports []event.Event // NATS sink.error events the event consumer got
	// missingFrames and missingEvents are the gaps in the numbers the
	// stream holds.
	missingFrames, missingEvents int
}

// playThroughNATSOutage plays a call of one speaker to a bot with a file
// sink and a NATS sink configured as cfg says (its URL and instance set
// here), with NATS down for natsOutage from 2 s into the media. It checks
// the WAV against the source; that no frame or event is stored twice, and
// every one the bot delivered or emitted is stored or dropped (a gap in
// the numbers), Dropped() counting the gaps; each stored frame against the
// WAV; and the metrics against the sink. It logs the figures.
func playThroughNATSOutage(t *testing.T, cfg natssink.Config) *natsOutageRun {
	t.Helper()
	store := t.TempDir()
	ns := natstest.Start(t, -1, store)
	port := ns.Addr().(*net.TCPAddr).Port
	cfg.URL, cfg.InstanceID, cfg.SampleRate = ns.ClientURL(), "test", 16000
	cfg.CloseTimeout = 30 * time.Second // the bot's Stop waits for the backlog to go out
	pub, err := natssink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t)
	log := &eventLog{}
	delivered := &frameCount{per: map[string]int{}}
	srv := startBot(t, sim, nil, mediabot.WithSink(pub), mediabot.WithEventConsumer(log), mediabot.WithFrameConsumer(delivered))

	freqs := []float64{220, 440, 700}
	played := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: natsOutage + 8*time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: freqs[1]}}}})
	waitMedia(t, srv)
	time.Sleep(2 * time.Second)
	ns.Shutdown()
	ns.WaitForShutdown()
	time.Sleep(natsOutage)
	natstest.Start(t, port, store)
	res := <-played
	if res == nil {
		t.FailNow()
	}
	waitIdle(t, srv)
	if err := srv.Stop(); err != nil { // the sinks are closed: the backlog has gone out
		t.Fatalf("bot.Run: %v", err)
	}

	run := &natsOutageRun{res: res, callDir: filepath.Join(srv.OutDir, res.CallID), dropped: pub.Dropped()}
	pid := res.Participants[0]
	emitted := log.where(func(e event.Event) bool { return e.CallID == res.CallID })
	for _, e := range emitted {
		if e.Type == event.SinkError && e.Sink == "nats" {
			run.reports = append(run.reports, e)
		}
	}
	// A consumer starved for longer than its ring (a machine far too busy)
	// loses frames there, counted: what the NATS sink received is what the
	// counting consumer did, plus what that one's ring lost, less what its
	// own lost.
	metrics := srv.OpsURL + "/metrics"
	overflow := func(consumer string) int {
		return int(scrapeGauge(metrics, `mediabot_ring_overflows_total{consumer="`+consumer+`"}`))
	}
	produced := delivered.total() + overflow("consumer-1")
	toNATS := produced - overflow("sink-nats")
	var frames, events []jetstream.Msg
	eachNATSMessage(t, cfg.URL, natssink.AudioSubjectPrefix+res.CallID+".>", func(m jetstream.Msg) { frames = append(frames, m) })
	eachNATSMessage(t, cfg.URL, natssink.EventSubjectPrefix+res.CallID, func(m jetstream.Msg) { events = append(events, m) })
	run.missingFrames = gaps(t, "frame", frames, func(h nats.Header) string { return h.Get(natssink.HeaderSeq) })
	run.missingEvents = gaps(t, "event", events, func(h nats.Header) string { return path.Base(h.Get(natssink.HeaderMsgID)) })
	t.Logf("frames: graphsim sent %d, the bot made %d, gave the NATS sink %d; NATS holds %d (%d gaps); events: %d emitted, NATS holds %d (%d gaps); Dropped() %d; %d sink.error reports",
		res.PacketsSent[pid], produced, toNATS, len(frames), run.missingFrames, len(emitted), len(events), run.missingEvents, run.dropped, len(run.reports))
	if len(frames)+run.missingFrames != toNATS || len(events)+run.missingEvents != len(emitted) ||
		uint64(run.missingFrames+run.missingEvents) != run.dropped {
		t.Errorf("what NATS holds and lacks is not what the NATS sink was given, or not what it dropped")
	}

	// The WAV is the source, its tone every second, and spans every frame
	// the bot made.
	const rate = 16000
	pcm, _ := wavtest.Read(t, filepath.Join(run.callDir, pid+".wav"))
	lead := leadingSilence(pcm)
	var received uint64
	for _, e := range emitted {
		if e.Type == event.StreamStats {
			received += e.StreamCounters.Packets
		}
	}
	t.Logf("graphsim sent %d packets, the bot received %d", res.PacketsSent[pid], received)
	if kept := (len(pcm) - lead) / (rate / 50); kept < produced-1 || kept > produced || produced > res.PacketsSent[pid] {
		t.Errorf("the WAV holds %d frames after %d samples of silence, the bot made %d, graphsim sent %d", kept, lead, produced, res.PacketsSent[pid])
	}
	checkToneEverySecond(t, pid+".wav", pcm[lead:], rate, freqs, 1)
	// Every frame on NATS is the WAV's audio at its Mediabot-Media-Time,
	// but those the file sink's ring lost, silence in the WAV.
	notInFile := 0
	for _, m := range frames {
		if who := m.Headers().Get(natssink.HeaderParticipantID); who != pid {
			t.Fatalf("a frame of %q on NATS, want only %s's", who, pid)
		}
		at, _ := strconv.Atoi(m.Headers().Get(natssink.HeaderMediaTime))
		from, to := at*rate/1000, at*rate/1000+len(m.Data())/2
		wav := pcm[min(from, len(pcm)):min(to, len(pcm))]
		switch {
		case slices.Equal(wav, samples(m.Data())):
		case !slices.ContainsFunc(wav, func(v int16) bool { return v != 0 }):
			notInFile++
		default:
			t.Fatalf("frame %s at %d ms is not the WAV's audio there", m.Headers().Get(natssink.HeaderSeq), at)
		}
	}
	if notInFile > overflow("sink-file") {
		t.Errorf("%d frames on NATS are silence in the WAV, the file sink's ring lost %d", notInFile, overflow("sink-file"))
	}

	if got := scrapeGauge(metrics, `mediabot_sink_dropped_total{sink="nats"}`); got != float64(run.dropped) {
		t.Errorf(`mediabot_sink_dropped_total{sink="nats"} %v, Dropped() %d`, got, run.dropped)
	}
	if got := scrapeGauge(metrics, `mediabot_sink_errors_total{sink="nats"}`); got != float64(len(run.reports)) {
		t.Errorf(`mediabot_sink_errors_total{sink="nats"} %v, %d reports`, got, len(run.reports))
	}
	return run
}

// gaps checks that no message of msgs has its number (what number reads
// from its headers) twice, and returns how many numbers below the highest
// are missing: the last frames and events of a call come after the outage.
func gaps(t *testing.T, what string, msgs []jetstream.Msg, number func(nats.Header) string) int {
	t.Helper()
	var numbers []int
	for _, m := range msgs {
		n, err := strconv.Atoi(number(m.Headers()))
		if err != nil {
			t.Fatalf("a %s without its number: %v", what, m.Headers())
		}
		numbers = append(numbers, n)
	}
	if len(numbers) == 0 {
		t.Fatalf("no %s on NATS", what)
	}
	slices.Sort(numbers) // a resend may be stored after later messages
	if len(slices.Compact(slices.Clone(numbers))) != len(numbers) {
		t.Errorf("a %s stored twice", what)
	}
	return numbers[len(numbers)-1] + 1 - len(numbers)
}

// waitMedia waits until the bot's one call has media.
func waitMedia(t *testing.T, srv *mediabottest.Server) {
	t.Helper()
	testwait.For(t, time.Minute, "a call with media", func() bool {
		calls := srv.Bot.Calls()
		return len(calls) == 1 && !calls[0].MediaStart.IsZero()
	})
}

// samples reads s16le PCM.
func samples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// total is how many frames were delivered, named or not.
func (c *frameCount) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.per {
		n += k
	}
	return n
}
