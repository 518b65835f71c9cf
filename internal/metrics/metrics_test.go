package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/sink"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

// idle is a bot holding nothing, with one media port.
type idle struct{ states []string }

func (s idle) CallStates() []string            { return s.states }
func (idle) LiveCalls() int                    { return 0 }
func (idle) Accepting() bool                   { return true }
func (idle) SharingSessions() int              { return 0 }
func (idle) PortStats() mediasession.PortStats { return mediasession.PortStats{} }
func (idle) MediaPorts() []int                 { return []int{8445} }
func (idle) ReaderBusy() []time.Duration       { return []time.Duration{0} }

// scrape is the text exposition of m.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// has reports whether the exposition has the sample series (name and
// labels as printed) with value v.
func has(text, series, v string) bool {
	return strings.Contains("\n"+text, "\n"+series+" "+v+"\n")
}

// A sink's consumer name says its kind, never its path or URL.
func TestSinkNameIsBounded(t *testing.T) {
	for _, tc := range []struct {
		s    any
		n    int
		want string
	}{
		{(*sink.FileSink)(nil), 1, "sink-file"},
		{(*nats.Sink)(nil), 2, "sink-nats"},
		{struct{}{}, 3, "sink-3"},
		{nil, 4, "sink-4"},
	} {
		if got := SinkName(tc.s, tc.n); got != tc.want {
			t.Errorf("SinkName(%T, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// Labelled series exist at 0 from the start for their known values: call
// states, placement results, concealment methods, and, once the consumers
// are known, their ring overflows and the shipped sinks' errors.
func TestSeriesExistAtZeroFromStart(t *testing.T) {
	m := New(idle{})
	m.Consumers([]string{"consumer-1", "sink-file", "sink-nats", "sink-3", "mixer", "speech"})
	text := scrape(t, m)
	for _, series := range []string{
		`mediabot_calls{state="established"}`, `mediabot_calls{state="terminated"}`,
		`mediabot_calls_placed_total{result="created"}`, `mediabot_calls_placed_total{result="refused"}`, `mediabot_calls_placed_total{result="failed"}`,
		`mediabot_concealed_packets_total{method="fec"}`, `mediabot_concealed_packets_total{method="plc"}`,
		`mediabot_ring_overflows_total{consumer="consumer-1"}`, `mediabot_ring_overflows_total{consumer="sink-file"}`,
		`mediabot_ring_overflows_total{consumer="sink-nats"}`, `mediabot_ring_overflows_total{consumer="sink-3"}`,
		`mediabot_ring_overflows_total{consumer="mixer"}`, `mediabot_ring_overflows_total{consumer="speech"}`,
		`mediabot_sink_errors_total{sink="file"}`, `mediabot_sink_errors_total{sink="nats"}`,
		`mediabot_media_packets_total{result="srtp"}`, `mediabot_media_packets_total{result="oversize"}`,
		`mediabot_rtp_packets_total`, `mediabot_rtp_lost_total`, `mediabot_rtp_late_total`,
		`mediabot_rtp_duplicates_total`, `mediabot_rtp_reordered_total`, `mediabot_rtp_decode_errors_total`,
	} {
		if !has(text, series, "0") {
			t.Errorf("no %s 0 at start", series)
		}
	}
	// An embedder's sink reports errors under a name of its own: no series
	// is guessed for it.
	if strings.Contains(text, `mediabot_sink_errors_total{sink="3"}`) || strings.Contains(text, `sink="sink-`) {
		t.Errorf("a sink error series for a sink of unknown kind:\n%s", text)
	}
	if strings.Contains(text, "mediabot_rtp_total") {
		t.Error("the mixed mediabot_rtp_total{counter} is still served")
	}
}

// An ended stream adds each quantity to its own counter, and its overflows
// to its consumers'.
func TestStreamEndedAddsEachQuantity(t *testing.T) {
	m := New(idle{states: []string{"established", "established", "someFutureState"}})
	m.Consumers([]string{"sink-file", "speech"})
	m.StreamStarted()
	m.StreamEnded(&event.StreamCounters{Packets: 100, Lost: 2, Late: 3, Duplicates: 4, Reordered: 5,
		DecodeErrors: 6, ConcealedFEC: 1, ConcealedPLC: 1}, map[string]uint64{"sink-file": 7, "speech": 0})
	text := scrape(t, m)
	for series, v := range map[string]string{
		"mediabot_rtp_packets_total": "100", "mediabot_rtp_lost_total": "2", "mediabot_rtp_late_total": "3",
		"mediabot_rtp_duplicates_total": "4", "mediabot_rtp_reordered_total": "5", "mediabot_rtp_decode_errors_total": "6",
		`mediabot_concealed_packets_total{method="fec"}`: "1", `mediabot_concealed_packets_total{method="plc"}`: "1",
		`mediabot_ring_overflows_total{consumer="sink-file"}`: "7", `mediabot_ring_overflows_total{consumer="speech"}`: "0",
		`mediabot_calls{state="established"}`: "2", `mediabot_calls{state="someFutureState"}`: "1",
		`mediabot_calls{state="incoming"}`: "0", "mediabot_streams_active": "0",
	} {
		if !has(text, series, v) {
			t.Errorf("want %s %s", series, v)
		}
	}
}
