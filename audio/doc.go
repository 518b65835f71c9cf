// Package audio is the hot path: it turns one remote RTP audio stream into
// 20 ms PCM frames at the configured rate, and hands them to consumers.
// Header parse in place, a small reorder window (sequence and timestamp
// wrap, duplicates, late packets, gaps), Opus decode straight to the output
// rate (libopus via gopkg.in/hraban/opus.v2) or G.711 for phone legs, loss
// concealed with in-band FEC or PLC, frames placed on the call's media
// clock. Each frame goes into a single-producer single-consumer Ring per
// consumer; a Drainer per consumer empties them on a goroutine of its own;
// a Mixer sums a call's streams. Per packet: no allocation, no lock, no
// channel send. It knows nothing of Graph, pion or files: packets come in
// as bytes, frames go out to a FrameConsumer.
package audio
