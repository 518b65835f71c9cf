package mediabot

import (
	"net/http"

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
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.answerSeconds,
		m.notificationsIgnored,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediabot_calls_live",
			Help: "Calls this instance holds (answered or being answered, not yet ended).",
		}, func() float64 { return float64(b.liveCount()) }),
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
