package audio

import "errors"

// Errors of the audio layer.
var (
	ErrSampleRate       = errors.New("audio: sample rate must be 16000 or 48000")
	ErrUnsupportedCodec = errors.New("audio: unsupported codec")
	ErrPacketTooLong    = errors.New("audio: packet too long")
	ErrUpsampleRatio    = errors.New("audio: upsample ratio must be 1, 2, 3 or 6")
	ErrBadOpusPacket    = errors.New("audio: malformed opus packet")
)
