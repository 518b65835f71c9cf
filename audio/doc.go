// Package audio turns one remote RTP audio stream into 20 ms PCM frames at
// the configured rate: header parse, order and loss accounting, Opus decode
// straight to the output rate (libopus via gopkg.in/hraban/opus.v2), and
// frames placed on the call's media clock. It knows nothing of Graph, pion
// or files: packets come in as bytes, frames go out to a FrameConsumer.
package audio
