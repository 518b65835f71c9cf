package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediabot-dev/mediabot/sink"
)

// dropCounter is a sink that drops what it cannot deliver, and counts it:
// the NATS sink past its backlog.
type dropCounter interface{ Dropped() uint64 }

var sinkDroppedDesc = prometheus.NewDesc("mediabot_sink_dropped_total",
	"Frames and events a sink dropped, by sink: the NATS sink's past its backlog (NATS slow or unreachable), each a gap in Mediabot-Seq or in the event numbers.",
	[]string{"sink"}, nil)

// sinkDrops sums, per kind of sink, what the sinks of that kind dropped.
type sinkDrops map[string][]dropCounter

func (d sinkDrops) Describe(ch chan<- *prometheus.Desc) { ch <- sinkDroppedDesc }

func (d sinkDrops) Collect(ch chan<- prometheus.Metric) {
	for kind, sinks := range d {
		var n uint64
		for _, s := range sinks {
			n += s.Dropped()
		}
		ch <- prometheus.MustNewConstMetric(sinkDroppedDesc, prometheus.CounterValue, float64(n), kind)
	}
}

// SinkDrops serves what the bot's sinks that count their drops dropped,
// from 0, labelled by kind as SinkName names them without its "sink-"
// prefix: sinks[i] is the bot's (i+1)-th sink. Call it once.
func (m *Metrics) SinkDrops(sinks []sink.Sink) {
	drops := sinkDrops{}
	for i, s := range sinks {
		if d, ok := s.(dropCounter); ok {
			kind := strings.TrimPrefix(SinkName(s, i+1), "sink-")
			drops[kind] = append(drops[kind], d)
		}
	}
	if len(drops) > 0 {
		m.reg.MustRegister(drops)
	}
}
