// Package promtext reads a bot's /metrics in Prometheus' text format, for
// the load and soak benchmarks: every series as a number, counters summed
// over their labels, histograms with their quantiles. Only the few series
// the benchmarks read matter, so a line parser does (no dependency).
package promtext

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sample is one scrape of the bot's /metrics: every series by its name and
// labels as the text format prints them, e.g. `mediabot_calls{state="established"}`.
type Sample map[string]float64

// Scrape reads the metrics at url.
func Scrape(ctx context.Context, client *http.Client, url string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	s := Sample{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// RTP is the bot's counter of ended streams (packets, lost, late, ...).
func (s Sample) RTP(counter string) float64 {
	return s["mediabot_rtp_"+counter+"_total"]
}

// Sum adds every series of a metric name, whatever its labels.
func (s Sample) Sum(name string) float64 {
	t := 0.0
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// Histogram is a Prometheus histogram's cumulative buckets.
type Histogram struct {
	le    []float64 // upper bounds, ascending, +Inf last
	cum   []float64 // observations <= le[i]
	Count float64   // observations
}

// Hist reads histogram name out of s.
func (s Sample) Hist(name string) Histogram {
	var h Histogram
	prefix := name + `_bucket{le="`
	for k, v := range s {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(k[len(prefix):], `"}`), 64)
		if err != nil {
			continue
		}
		h.le = append(h.le, le)
		h.cum = append(h.cum, v)
	}
	idx := make([]int, len(h.le))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return h.le[idx[a]] < h.le[idx[b]] })
	le, cum := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		le[i], cum[i] = h.le[j], h.cum[j]
	}
	h.le, h.cum, h.Count = le, cum, s[name+"_count"]
	return h
}

// Minus is h's observations since earlier.
func (h Histogram) Minus(earlier Histogram) Histogram {
	out := Histogram{le: h.le, cum: make([]float64, len(h.cum)), Count: h.Count - earlier.Count}
	for i := range h.cum {
		out.cum[i] = h.cum[i]
		if i < len(earlier.cum) {
			out.cum[i] -= earlier.cum[i]
		}
	}
	return out
}

// Above is the number of observations greater than bound, which must be a
// bucket bound.
func (h Histogram) Above(bound float64) float64 {
	for i, le := range h.le {
		if le == bound {
			return h.Count - h.cum[i]
		}
	}
	return math.NaN()
}

// Quantile interpolates the q-quantile linearly inside its bucket, as
// Prometheus' histogram_quantile does; in the +Inf bucket it is the last
// finite bound (a lower bound of the truth).
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.le) == 0 {
		return -1
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, le := range h.le {
		if h.cum[i] >= rank {
			if math.IsInf(le, 1) {
				return seconds(lower)
			}
			in := h.cum[i] - below
			if in == 0 {
				return seconds(le)
			}
			return seconds(lower + (le-lower)*(rank-below)/in)
		}
		lower, below = le, h.cum[i]
	}
	return seconds(lower)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
