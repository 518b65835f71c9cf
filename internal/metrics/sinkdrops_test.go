package metrics

import (
	"testing"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/sink"
)

// droppingSink is a sink of an embedder's that counts what it dropped.
type droppingSink struct{ dropped uint64 }

func (*droppingSink) Frame(*audio.Frame) {}
func (*droppingSink) Event(event.Event)  {}
func (*droppingSink) EndCall(string)     {}
func (*droppingSink) Close() error       { return nil }
func (*droppingSink) String() string     { return "DROPPING(/some/path)" }
func (s *droppingSink) Dropped() uint64  { return s.dropped }

// What the sinks that count their drops dropped is served by kind (an
// embedder's sink by its number), read when scraped, from 0; a sink that
// counts no drops has no series.
func TestSinkDropsAreServedByKind(t *testing.T) {
	m := New(idle{})
	a, b := &droppingSink{}, &droppingSink{}
	m.SinkDrops([]sink.Sink{(*sink.FileSink)(nil), a, b})
	if text := scrape(t, m); !has(text, `mediabot_sink_dropped_total{sink="2"}`, "0") || !has(text, `mediabot_sink_dropped_total{sink="3"}`, "0") {
		t.Errorf("no series at 0 for the sinks that count their drops:\n%s", text)
	}
	a.dropped, b.dropped = 7, 5
	text := scrape(t, m)
	if !has(text, `mediabot_sink_dropped_total{sink="2"}`, "7") || !has(text, `mediabot_sink_dropped_total{sink="3"}`, "5") {
		t.Errorf("want 7 and 5 dropped:\n%s", text)
	}
	if has(text, `mediabot_sink_dropped_total{sink="file"}`, "0") {
		t.Error("a series for the file sink, which drops nothing")
	}
}
