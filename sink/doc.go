// Package sink holds the consumers at the end of mediabot's flow: they take
// every decoded 20 ms frame (audio.FrameConsumer) and every event
// (event.Consumer) of a call and persist or publish them.
//
// FileSink writes the layout of the README's "Outputs" section: per call a
// folder with one mono 16-bit WAV per participant on the call's media clock
// and an events.jsonl. The NATS JetStream sink, behind the same Sink
// interface, is in package sink/nats, so that an embedder who wants only
// files does not link the NATS client.
//
// Sinks sit behind the audio package's lock-free rings: they are drained on
// their own goroutines, so they may take a mutex and do file I/O, but they
// must never panic and a failure of one call must not stop the others.
package sink
