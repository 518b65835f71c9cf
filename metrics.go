package mediabot

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the bot's Prometheus metrics, in a registry of its own so
// that several bots (tests, embedders) can live in one process.
type metrics struct {
	reg                  *prometheus.Registry
	answerSeconds        prometheus.Histogram
	notificationsIgnored prometheus.Counter
	callsPlaced          *prometheus.CounterVec // by result: created, refused, failed
	streamsActive        prometheus.Gauge
	frameDelay           prometheus.Histogram
	loadLevel            prometheus.Gauge
	cpuPerStream         prometheus.Gauge
	sinkErrors           *prometheus.CounterVec // by sink
	rtp                  *prometheus.CounterVec // by counter: packets, lost, late, ...
	concealed            *prometheus.CounterVec // by method: fec, plc
	ringOverflows        *prometheus.CounterVec // by consumer
}

// streamEnded adds an ended stream's counters; stream counters are kept by
// the stream's own goroutine without atomics, so they reach Prometheus
// when the stream ends.
func (m *metrics) streamEnded(c *event.StreamCounters, overflows map[string]uint64) {
	m.streamsActive.Dec()
	for name, v := range map[string]uint64{"packets": c.Packets, "lost": c.Lost, "late": c.Late,
		"duplicates": c.Duplicates, "reordered": c.Reordered, "decode_errors": c.DecodeErrors} {
		m.rtp.WithLabelValues(name).Add(float64(v))
	}
	m.concealed.WithLabelValues("fec").Add(float64(c.ConcealedFEC))
	m.concealed.WithLabelValues("plc").Add(float64(c.ConcealedPLC))
	for consumer, v := range overflows {
		m.ringOverflows.WithLabelValues(consumer).Add(float64(v))
	}
}

func newMetrics(b *Bot) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		answerSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediabot_answer_seconds",
			Help:    "Time from an incoming-call notification's arrival to Graph accepting the answer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
		notificationsIgnored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediabot_notifications_ignored_total",
			Help: "Notifications accepted but not acted on: unknown resources, unknown or ended calls.",
		}),
	}
	m.streamsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mediabot_streams_active", Help: "Remote audio streams being decoded now."})
	m.rtp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_rtp_total",
		Help: "RTP counters of ended streams: packets, lost, late, duplicates, reordered, decode_errors.",
	}, []string{"counter"})
	m.concealed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_concealed_packets_total", Help: "Lost packets concealed, by method (fec, plc), in ended streams."},
		[]string{"method"})
	m.ringOverflows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_ring_overflows_total", Help: "Frames dropped because a consumer fell behind, by consumer, in ended streams."},
		[]string{"consumer"})
	m.frameDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mediabot_frame_delay_seconds",
		Help:    "Time from an RTP packet's arrival to its frame's delivery to a consumer (reordering wait and batching included).",
		Buckets: []float64{.005, .01, .02, .03, .04, .06, .08, .1, .15, .25, .5, 1},
	})
	m.loadLevel = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mediabot_load_state", Help: "Load level: 0 normal, 1 heavy, 2 overloaded (the reason is on /readyz and in load.state events)."})
	m.cpuPerStream = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mediabot_cpu_per_stream_seconds", Help: "This process's CPU seconds per second per active stream, over the last second."})
	m.sinkErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_sink_errors_total", Help: "sink.error events: a sink failed for a call (full disk, unwritable folder, NATS backlog overflow)."},
		[]string{"sink"})
	m.callsPlaced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediabot_calls_placed_total", Help: "Calls the bot asked Graph to place, by result: created, refused (by Graph), failed (Graph unreachable or a bad reply)."},
		[]string{"result"})
	m.reg.MustRegister(
		m.callsPlaced,
		m.streamsActive, m.frameDelay, m.loadLevel, m.cpuPerStream, m.sinkErrors, m.rtp, m.concealed, m.ringOverflows,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.answerSeconds,
		m.notificationsIgnored,
		callsByState{b},
		mediaPackets{b},
		readerBusy{b},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_calls_live",
			Help: "Calls this instance holds (answered or being answered, not yet ended).",
		}, func() float64 { return float64(b.liveCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_accepting_calls",
			Help: "1 while a new call would be taken: not draining, under --max-calls, not overloaded (measured, or once the calls still connecting send audio).",
		}, func() float64 {
			if b.canPlace() != nil {
				return 0
			}
			return 1
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_sharing_sessions_active",
			Help: "Content-sharing sessions open now, over all live calls.",
		}, func() float64 { return float64(b.activeSharing()) }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// timedConsumer observes each frame's delay before handing it on.
type timedConsumer struct {
	next  audio.FrameConsumer
	delay prometheus.Histogram
	count *frameDelays
}

// frameDelays counts timed frames and the slow ones, for the load state.
type frameDelays struct{ frames, slow atomic.Uint64 }

// Frame observes and forwards f. hot path (drainer): no alloc.
func (t timedConsumer) Frame(f *audio.Frame) {
	if !f.Concealed {
		d := time.Since(f.Arrival)
		t.delay.Observe(d.Seconds())
		t.count.frames.Add(1)
		if d > slowFrame {
			t.count.slow.Add(1)
		}
	}
	t.next.Frame(f)
}

// callsByState reports the live calls by Graph call state.
type callsByState struct{ b *Bot }

var callsDesc = prometheus.NewDesc("mediabot_calls", "Calls this instance holds, by Graph call state.", []string{"state"}, nil)

func (c callsByState) Describe(ch chan<- *prometheus.Desc) { ch <- callsDesc }

func (c callsByState) Collect(ch chan<- prometheus.Metric) {
	count := map[string]int{}
	for _, ci := range c.b.Calls() {
		count[ci.State]++
	}
	for state, n := range count {
		ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.GaugeValue, float64(n), state)
	}
}

// mediaPackets reports what the media ports did with connected peers'
// packets that no stream counter sees.
type mediaPackets struct{ b *Bot }

var mediaPacketsDesc = prometheus.NewDesc("mediabot_media_packets_total",
	"Packets from connected peers on the media ports, by result: srtp (delivered to a stream), rtcp (read, not decrypted), undecryptable (failed SRTP authentication), replayed (an authentic packet seen before: a network duplicate or a replay), unknown_ssrc (a source the answer did not declare, past the stream limit, or an unoffered payload type), oversize (a datagram from anyone too large for a media packet, dropped).",
	[]string{"result"}, nil)

func (m mediaPackets) Describe(ch chan<- *prometheus.Desc) { ch <- mediaPacketsDesc }

func (m mediaPackets) Collect(ch chan<- prometheus.Metric) {
	s := m.b.engine.PortStats()
	for result, v := range map[string]uint64{"srtp": s.SRTP, "rtcp": s.RTCP,
		"undecryptable": s.Undecryptable, "replayed": s.Replayed, "unknown_ssrc": s.UnknownSSRC, "oversize": s.Oversize} {
		ch <- prometheus.MustNewConstMetric(mediaPacketsDesc, prometheus.CounterValue, float64(v), result)
	}
}

// readerBusy reports each media port's reader time: its rate is the share of
// a core that port's one reader uses (full near 1, whatever the machine).
type readerBusy struct{ b *Bot }

var readerBusyDesc = prometheus.NewDesc("mediabot_media_reader_busy_seconds_total",
	"Time each media port's reader goroutine spent decrypting, decoding and delivering packets; its rate near 1 means the port is full (add --media-ports).",
	[]string{"port"}, nil)

func (m readerBusy) Describe(ch chan<- *prometheus.Desc) { ch <- readerBusyDesc }

func (m readerBusy) Collect(ch chan<- prometheus.Metric) {
	ports := m.b.engine.MediaPorts()
	for i, busy := range m.b.engine.ReaderBusy() {
		ch <- prometheus.MustNewConstMetric(readerBusyDesc, prometheus.CounterValue, busy.Seconds(), strconv.Itoa(ports[i]))
	}
}
