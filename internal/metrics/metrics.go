// Package metrics is the bot's Prometheus surface: the counters its calls
// and streams update, and the gauges read from the bot when scraped.
package metrics

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/sink"
)

// Source is what the gauges read of the bot when Prometheus scrapes.
type Source interface {
	// CallStates is the Graph state of each call held.
	CallStates() []string
	LiveCalls() int
	// Accepting reports whether a new call would be taken now.
	Accepting() bool
	SharingSessions() int
	PortStats() mediasession.PortStats
	// MediaPorts and ReaderBusy are each media port and its reader's time.
	MediaPorts() []int
	ReaderBusy() []time.Duration
}

// Metrics are one bot's metrics, in a registry of its own so that several
// bots (tests, embedders) can live in one process. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg                  *prometheus.Registry
	answerSeconds        prometheus.Histogram
	notificationsIgnored prometheus.Counter
	notificationsRefused *prometheus.CounterVec // by reason
	callsPlaced          *prometheus.CounterVec // by result: created, refused, failed
	streamsActive        prometheus.Gauge
	frameDelay           prometheus.Histogram
	loadLevel            prometheus.Gauge
	cpuPerStream         prometheus.Gauge
	capacity             prometheus.Gauge
	sinkErrors           *prometheus.CounterVec // by sink
	rtp                  rtpCounters
	concealed            *prometheus.CounterVec // by method: fec, plc
	ringOverflows        *prometheus.CounterVec // by consumer
	tokenFailures        *prometheus.CounterVec // by token held: valid, none
}

// New registers the metrics, the gauges reading src.
func New(src Source) *Metrics {
	m := &Metrics{
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
		notificationsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediabot_notifications_refused_total",
			Help: "Webhook requests refused, by reason: unauthorized (401), keys_unavailable (503: the signing keys could not be fetched), bad_request (400), too_large (413).",
		}, []string{"reason"}),
		streamsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediabot_streams_active", Help: "Remote audio streams being decoded now."}),
		rtp: newRTPCounters(),
		concealed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediabot_concealed_packets_total", Help: "Lost packets concealed, by method (fec, plc), in ended streams."},
			[]string{"method"}),
		ringOverflows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediabot_ring_overflows_total", Help: "Frames dropped because a consumer fell behind, by consumer, in ended streams."},
			[]string{"consumer"}),
		frameDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediabot_frame_delay_seconds",
			Help:    "Time from an RTP packet's arrival to its frame's delivery to a consumer (reordering wait and batching included).",
			Buckets: []float64{.005, .01, .02, .03, .04, .06, .08, .1, .15, .25, .5, 1},
		}),
		loadLevel: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediabot_load_state", Help: "Load level: 0 normal, 1 heavy, 2 overloaded (the reason is on /readyz and in load.state events)."}),
		cpuPerStream: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediabot_cpu_per_stream_seconds", Help: "This process's CPU seconds per second per active stream, over the last second."}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediabot_capacity_streams", Help: "The audio streams this instance can hold on this machine, which admission fills up to (the reason is on /readyz and in the status page)."}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediabot_sink_errors_total", Help: "sink.error events: a sink failed for a call (full disk, unwritable folder, NATS backlog overflow)."},
			[]string{"sink"}),
		callsPlaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediabot_calls_placed_total", Help: "Calls the bot asked Graph to place, by result: created, refused (by Graph), failed (Graph unreachable or a bad reply)."},
			[]string{"result"}),
	}
	m.reg.MustRegister(
		m.answerSeconds, m.notificationsIgnored, m.notificationsRefused, m.callsPlaced,
		m.streamsActive, m.frameDelay, m.loadLevel, m.cpuPerStream, m.capacity, m.sinkErrors, m.concealed, m.ringOverflows,
		m.rtp.packets, m.rtp.lost, m.rtp.late, m.rtp.duplicates, m.rtp.reordered, m.rtp.decodeErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		callsByState{src}, mediaPackets{src}, readerBusy{src},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_calls_live",
			Help: "Calls this instance holds (answered or being answered, not yet ended).",
		}, func() float64 { return float64(src.LiveCalls()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_accepting_calls",
			Help: "1 while a new call would be taken: not draining, under --max-calls, not overloaded (measured, or once the calls still connecting send audio).",
		}, func() float64 {
			if src.Accepting() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_sharing_sessions_active",
			Help: "Content-sharing sessions open now, over all live calls.",
		}, func() float64 { return float64(src.SharingSessions()) }),
	)
	m.tokenFailures = registerTokenFailures(m.reg)
	// The known label values exist from the start, at 0.
	for _, method := range []string{"fec", "plc"} {
		m.concealed.WithLabelValues(method)
	}
	for _, result := range []string{"created", "refused", "failed"} {
		m.callsPlaced.WithLabelValues(result)
	}
	for _, reason := range []string{"unauthorized", "keys_unavailable", "bad_request", "too_large"} {
		m.notificationsRefused.WithLabelValues(reason)
	}
	return m
}

// rtpCounters are the RTP counters of ended streams, one metric per
// quantity.
type rtpCounters struct {
	packets, lost, late, duplicates, reordered, decodeErrors prometheus.Counter
}

func newRTPCounters() rtpCounters {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "mediabot_rtp_" + name + "_total", Help: help + ", in ended streams."})
	}
	return rtpCounters{
		packets:      c("packets", "RTP packets received and parsed"),
		lost:         c("lost", "RTP packets never received (a gap given up on)"),
		late:         c("late", "RTP packets dropped because they came after their turn had passed"),
		duplicates:   c("duplicates", "RTP packets dropped because their sequence number was seen before"),
		reordered:    c("reordered", "RTP packets that came after a later one and were put back in order"),
		decodeErrors: c("decode_errors", "RTP packets that failed to parse or whose payload failed to decode"),
	}
}

// Names of the sinks the bot ships, as their sink.error events name them.
const (
	sinkFile = "file"
	sinkNATS = "nats"
)

// natsSink is the NATS sink's type, known by name: importing it would make
// every embedder link the NATS client.
const natsSinkPkg, natsSinkType = "github.com/mediabot-dev/mediabot/sink/nats", "Sink"

// SinkName is the name of the bot's n-th sink (from 1) as a fanout
// consumer, in metrics: "sink-file" for a file sink, "sink-nats" for the
// NATS sink, else "sink-<n>". Never the sink's String(), which holds a
// path or a URL: the label's values follow the kinds of sinks, not the
// configuration.
func SinkName(s any, n int) string {
	if _, ok := s.(*sink.FileSink); ok {
		return "sink-" + sinkFile
	}
	if t := reflect.TypeOf(s); t != nil && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == natsSinkPkg && t.Elem().Name() == natsSinkType {
		return "sink-" + sinkNATS
	}
	return "sink-" + strconv.Itoa(n)
}

// Consumers readies, at 0, the series of the fanout's consumers, by name:
// their ring overflows, and the errors of the sinks the bot ships among
// them (SinkName). Call it once the consumers are known.
func (m *Metrics) Consumers(names []string) {
	for _, name := range names {
		m.ringOverflows.WithLabelValues(name)
		if kind, ok := strings.CutPrefix(name, "sink-"); ok && (kind == sinkFile || kind == sinkNATS) {
			m.sinkErrors.WithLabelValues(kind)
		}
	}
}

// Handler serves the text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Answered observes the time from an incoming call's arrival to its answer.
func (m *Metrics) Answered(took time.Duration) { m.answerSeconds.Observe(took.Seconds()) }

// NotificationsIgnored counts notifications accepted but not acted on.
func (m *Metrics) NotificationsIgnored(n int) { m.notificationsIgnored.Add(float64(n)) }

// NotificationRefused counts a webhook request refused, by reason.
func (m *Metrics) NotificationRefused(reason string) {
	m.notificationsRefused.WithLabelValues(reason).Inc()
}

// CallPlaced counts a placement by its result: created, refused or failed.
func (m *Metrics) CallPlaced(result string) { m.callsPlaced.WithLabelValues(result).Inc() }

// FrameDelay observes one frame's delay from its packet's arrival.
//
// hot path (drainer): no alloc.
func (m *Metrics) FrameDelay(d time.Duration) { m.frameDelay.Observe(d.Seconds()) }

// SinkError counts a sink.error event.
func (m *Metrics) SinkError(sink string) { m.sinkErrors.WithLabelValues(sink).Inc() }

// Load records the load level, the CPU per stream measured and the
// capacity in streams.
func (m *Metrics) Load(level int, cpuPerStream time.Duration, capacity int) {
	m.loadLevel.Set(float64(level))
	m.cpuPerStream.Set(cpuPerStream.Seconds())
	m.capacity.Set(float64(capacity))
}

// StreamStarted counts a stream being decoded.
func (m *Metrics) StreamStarted() { m.streamsActive.Inc() }

// StreamEnded adds an ended stream's counters; stream counters are kept by
// the stream's own goroutine without atomics, so they reach Prometheus
// when the stream ends.
func (m *Metrics) StreamEnded(c *event.StreamCounters, overflows map[string]uint64) {
	m.streamsActive.Dec()
	m.rtp.packets.Add(float64(c.Packets))
	m.rtp.lost.Add(float64(c.Lost))
	m.rtp.late.Add(float64(c.Late))
	m.rtp.duplicates.Add(float64(c.Duplicates))
	m.rtp.reordered.Add(float64(c.Reordered))
	m.rtp.decodeErrors.Add(float64(c.DecodeErrors))
	m.concealed.WithLabelValues("fec").Add(float64(c.ConcealedFEC))
	m.concealed.WithLabelValues("plc").Add(float64(c.ConcealedPLC))
	for consumer, v := range overflows {
		m.ringOverflows.WithLabelValues(consumer).Add(float64(v))
	}
}
