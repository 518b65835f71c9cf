package sink

import "errors"

// Sentinels of this package; returned errors wrap them with %w, so test with
// errors.Is.
var (
	// ErrSinkClosed is returned by Close on a sink that is already closed.
	ErrSinkClosed = errors.New("sink: closed")

	// ErrWriterClosed is returned by a WAVWriter used after Close.
	ErrWriterClosed = errors.New("sink: wav writer closed")

	// ErrDirUnusable means the output directory cannot be created or
	// written; NewFileSink fails with it at start-up.
	ErrDirUnusable = errors.New("sink: output directory unusable")

	// ErrSampleRate means a sample rate is invalid or a frame's rate differs
	// from the rate the sink was configured with (a wiring mistake).
	ErrSampleRate = errors.New("sink: bad sample rate")
)
