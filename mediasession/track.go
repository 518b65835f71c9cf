package mediasession

import "time"

// Track is one remote audio stream of a session: one SSRC.
type Track struct {
	SSRC        uint32
	MimeType    string // audio/opus, audio/PCMU or audio/PCMA
	ClockRate   int
	Channels    int
	PayloadType uint8
	// AudioLevelID is the id of the RFC 6464 client-to-mixer audio level
	// header extension (AudioLevelURI) on the track's packets, in RFC 8285's
	// one-byte form: 1..14 when the peer's answer took it for the track's
	// section, 0 when it was not negotiated (the packets carry no level, or
	// one the bot cannot trust). With rtp.Header,
	// GetExtension(AudioLevelID) is one byte: the V (voice activity) bit
	// 0x80 and the level in -dBov (0 loudest, 127 silence) in the low 7 bits.
	AudioLevelID uint8
}

// AudioLevelURI names the RFC 6464 client-to-mixer audio level header
// extension, which the offer carries in every audio section.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// offeredAudioLevelID is the extension id the offer gives AudioLevelURI in
// every section: the offer maps no other extension, so 1 is free, and the
// same id in every section is what BUNDLE asks for (RFC 8843 §9.1).
const offeredAudioLevelID = 1

// PacketHandler receives one track's packets; *audio.Stream is one.
type PacketHandler interface {
	// Push is called for each decrypted RTP packet of the track, in
	// arrival order, on the goroutine that reads the media socket: it must
	// not block, and b is only valid until it returns.
	Push(b []byte, arrival time.Time)
	// Flush is called once when the track ends, after the last Push: when
	// the peer's RTCP BYE names its source (on a goroutine of its own: it
	// may wait), or when the session closes.
	Flush()
}

// offeredCodec is a payload type the offer carries.
type offeredCodec struct {
	mimeType  string
	clockRate int
	channels  int
	fmtp      string
}

// offeredCodecs are the payload types of every offered section: Opus with
// in-band FEC, and G.711 for phone legs.
var offeredCodecs = map[uint8]offeredCodec{
	111: {mimeType: "audio/opus", clockRate: 48000, channels: 2, fmtp: "minptime=10;useinbandfec=1"},
	0:   {mimeType: "audio/PCMU", clockRate: 8000, channels: 1},
	8:   {mimeType: "audio/PCMA", clockRate: 8000, channels: 1},
}

// offeredPayloadTypes is the order of preference in the offer.
var offeredPayloadTypes = []uint8{111, 0, 8}
