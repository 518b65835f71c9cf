package mediasession

import "time"

// Track is one remote audio stream of a session: one SSRC.
type Track struct {
	SSRC        uint32
	MimeType    string // audio/opus, audio/PCMU or audio/PCMA
	ClockRate   int
	Channels    int
	PayloadType uint8
}

// PacketHandler receives one track's packets; *audio.Stream is one.
type PacketHandler interface {
	// Push is called for each decrypted RTP packet of the track, in
	// arrival order, on the goroutine that reads the media socket: it must
	// not block, and b is only valid until it returns.
	Push(b []byte, arrival time.Time)
	// Flush is called once when the session closes, after the last Push:
	// the track has ended.
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
