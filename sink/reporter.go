package sink

import (
	"sync/atomic"

	"github.com/mediabot-dev/mediabot/event"
)

// ErrorReporter is a Sink that reports its failures (a full disk, a NATS
// backlog overflow) as sink.error events. A bot given such a sink hands
// it, once and before any call, the function through which those events
// reach its other sinks and its event consumers.
type ErrorReporter interface {
	Sink
	ReportErrorsTo(report func(event.Event))
}

// Reporter holds where a sink's failures go: nowhere until ReportErrorsTo.
// Sinks embed it to be ErrorReporters. Its methods are safe for concurrent
// use.
type Reporter struct {
	to atomic.Pointer[func(event.Event)]
}

// ReportErrorsTo sends the sink's sink.error events to report.
func (r *Reporter) ReportErrorsTo(report func(event.Event)) { r.to.Store(&report) }

// Report hands e to the function given to ReportErrorsTo, if any. It must
// be called without the sink's locks held: the event may come back to the
// sink.
func (r *Reporter) Report(e event.Event) {
	if to := r.to.Load(); to != nil {
		(*to)(e)
	}
}
