package audio

import (
	"fmt"
	"strings"
)

// decoder turns one codec's payloads into mono PCM at the output rate. The
// returned slices are the decoder's own, valid until its next call.
type decoder interface {
	// Decode decodes one packet.
	Decode(payload []byte) ([]int16, error)
	// Conceal makes samples of concealment for a lost packet: in-band FEC
	// from next (the packet after the loss) when next carries it, PLC
	// otherwise. fec reports which.
	Conceal(next []byte, samples int) (pcm []int16, fec bool, err error)
}

// newDecoder picks the decoder for a track's codec.
func newDecoder(mimeType string, rate int) (decoder, error) {
	switch strings.ToLower(mimeType) {
	case "audio/opus":
		return NewOpusDecoder(rate)
	case "audio/pcmu":
		return newG711Decoder(DecodeULaw, rate)
	case "audio/pcma":
		return newG711Decoder(DecodeALaw, rate)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, mimeType)
}

// g711Decoder decodes PCMU or PCMA and brings 8 kHz to the output rate.
type g711Decoder struct {
	decode func(dst []int16, src []byte) []int16
	up     *Upsampler
	narrow []int16
	out    []int16
}

func newG711Decoder(decode func([]int16, []byte) []int16, rate int) (*g711Decoder, error) {
	if rate != 16000 && rate != 48000 {
		return nil, fmt.Errorf("%w: %d", ErrSampleRate, rate)
	}
	up, err := NewUpsampler(rate / 8000)
	if err != nil {
		return nil, err
	}
	const maxNarrow = 8000 * maxPacketMs / 1000
	return &g711Decoder{decode: decode, up: up,
		narrow: make([]int16, 0, maxNarrow), out: make([]int16, 0, maxNarrow*rate/8000)}, nil
}

// Decode decodes one G.711 packet (one byte per 8 kHz sample).
//
// hot path: no alloc (packets up to 120 ms).
func (d *g711Decoder) Decode(payload []byte) ([]int16, error) {
	if len(payload) > cap(d.narrow) {
		return nil, fmt.Errorf("%w: G.711 packet of %d bytes", ErrPacketTooLong, len(payload))
	}
	d.narrow = d.decode(d.narrow[:0], payload)
	d.out = d.up.Process(d.out[:0], d.narrow)
	return d.out, nil
}

// Conceal for G.711 is silence: the codec has no FEC and no PLC of its own.
func (d *g711Decoder) Conceal(_ []byte, samples int) ([]int16, bool, error) {
	samples = min(samples, cap(d.out))
	d.out = d.out[:samples]
	clear(d.out)
	return d.out, false, nil
}
