// Package sink holds the consumers at the end of mediabot's flow: they take
// every decoded 20 ms frame (audio.FrameConsumer) and every event
// (event.Consumer) of a call and persist or publish them.
//
// FileSink writes CONTRACT §5's layout: per call a folder with one mono
// 16-bit WAV per participant on the call's media clock and an events.jsonl.
// A NATS JetStream sink comes later behind the same Sink interface.
//
// Sinks sit behind the audio package's lock-free rings: they are drained on
// their own goroutines, so they may take a mutex and do file I/O, but they
// must never panic and a failure of one call must not stop the others.
package sink
