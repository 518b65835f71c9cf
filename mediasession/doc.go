// Package mediasession is the bot's WebRTC media leg, built from pion's
// parts rather than its PeerConnection. One Engine per process owns the UDP
// media ports (an ICE UDP mux on each) and one DTLS certificate; per call a
// Session makes the SDP offer, wraps it in a blob v1 for Graph's
// appHostedMediaConfig, takes the media processor's SDP answer at its
// answerUri, runs ICE and the DTLS-SRTP handshake with pion's ice, dtls and
// srtp packages, and then takes the peer's SRTP off the socket itself: the
// port's one reader goroutine decrypts each packet in place and hands it to
// its track's PacketHandler (the audio layer's stream, which decodes it
// there), with no goroutine hand-off and no allocation per packet.
//
// Microsoft does not publish the wire format of the blob its own media library
// generates; blob v1 over standard WebRTC is this project's documented
// protocol (README, "The media blob").
package mediasession
