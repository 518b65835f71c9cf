package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mediabot-dev/mediabot/mediabottest"
)

// readmeMetrics are the metric names the README's HTTP routes table lists
// for GET /metrics, with their label when they have one.
func readmeMetrics(t *testing.T) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for line := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(line, "| `GET /metrics` |") {
			row = line
		}
	}
	names := map[string]string{}
	for _, m := range regexp.MustCompile("`(mediabot_[a-z0-9_]+)(?:\\{([a-z_]+)\\})?`").FindAllStringSubmatch(row, -1) {
		names[m[1]] = m[2]
	}
	if len(names) < 15 {
		t.Fatalf("README: the GET /metrics row of the HTTP routes table lists %d mediabot_ metrics: %q", len(names), row)
	}
	return names
}

// Every metric the README lists is served from start-up, at 0, each
// labelled one with its known label values; consumer labels are kinds of
// consumers, never a sink's path.
func TestMetricsTheREADMEListsExistAtStart(t *testing.T) {
	srv, err := mediabottest.Start(mediabottest.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.OpsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	// The registry prints a family's TYPE only when it has series; the
	// samples' names carry a histogram's _bucket, _sum and _count.
	served := map[string]bool{}
	labels := map[string][]string{} // sample lines by family
	for line := range strings.SplitSeq(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = true
		} else if line != "" && !strings.HasPrefix(line, "#") {
			series, _, _ := strings.Cut(line, " ")
			name, _, _ := strings.Cut(series, "{")
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if fam, ok := strings.CutSuffix(name, suffix); ok && served[fam] {
					name = fam
				}
			}
			labels[name] = append(labels[name], line)
		}
	}
	for name, label := range readmeMetrics(t) {
		switch {
		case !served[name] || len(labels[name]) == 0:
			t.Errorf("README lists %s, /metrics of a bot just started has no series of it", name)
		case label != "" && !strings.Contains(labels[name][0], name+"{"+label+"=") && !strings.Contains(labels[name][0], ","+label+"="):
			t.Errorf("README lists %s{%s}, /metrics serves %s", name, label, labels[name][0])
		}
	}
	for _, series := range []string{
		`mediabot_calls{state="established"} 0`,
		`mediabot_calls_placed_total{result="created"} 0`, `mediabot_calls_placed_total{result="refused"} 0`, `mediabot_calls_placed_total{result="failed"} 0`,
		`mediabot_concealed_packets_total{method="fec"} 0`, `mediabot_concealed_packets_total{method="plc"} 0`,
		`mediabot_media_packets_total{result="srtp"} 0`, `mediabot_media_packets_total{result="undecryptable"} 0`,
		`mediabot_ring_overflows_total{consumer="sink-file"} 0`, `mediabot_ring_overflows_total{consumer="speech"} 0`,
		`mediabot_sink_errors_total{sink="file"} 0`,
		`mediabot_rtp_packets_total 0`, `mediabot_rtp_decode_errors_total 0`,
	} {
		if !strings.Contains("\n"+text, "\n"+series+"\n") {
			t.Errorf("/metrics at start: no %s", series)
		}
	}
	for _, line := range labels["mediabot_ring_overflows_total"] {
		if strings.ContainsAny(line, "/()") {
			t.Errorf("a consumer named by configuration: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
