// Package mediasession is the bot's WebRTC media leg. One Engine per process
// owns the pion API and a single UDP media port (ICE UDP mux); per call a
// Session makes the SDP offer, wraps it in a blob v1 for Graph's
// appHostedMediaConfig, takes the media processor's SDP answer at its
// answerUri, and hands each remote audio track to the audio layer.
//
// Microsoft does not publish the wire format of the blob its own media library
// generates; blob v1 over standard WebRTC is this project's documented
// protocol (README, "The media blob").
package mediasession
