package audio

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// maxPacketMs is the longest Opus packet (RFC 6716: up to 120 ms).
const maxPacketMs = 120

// OpusDecoder decodes Opus straight to mono PCM at the output rate: libopus
// resamples internally and down-mixes stereo senders, so no resampler runs.
type OpusDecoder struct {
	dec  *opus.Decoder
	rate int
	pcm  []int16 // capacity of the longest packet: hraban/opus sizes by cap
}

// NewOpusDecoder makes a decoder to mono PCM at rate (16000 or 48000).
func NewOpusDecoder(rate int) (*OpusDecoder, error) {
	if rate != 16000 && rate != 48000 {
		return nil, fmt.Errorf("%w: %d", ErrSampleRate, rate)
	}
	dec, err := opus.NewDecoder(rate, 1)
	if err != nil {
		return nil, fmt.Errorf("opus decoder: %w", err)
	}
	return &OpusDecoder{dec: dec, rate: rate, pcm: make([]int16, rate*maxPacketMs/1000)}, nil
}

// Decode decodes one packet and returns its samples. The slice is the
// decoder's own and valid until the next call.
//
// hot path: no alloc.
func (d *OpusDecoder) Decode(payload []byte) ([]int16, error) {
	n, err := d.dec.Decode(payload, d.pcm)
	if err != nil {
		return nil, err
	}
	return d.pcm[:n], nil
}

// Conceal makes samples (a multiple of 2.5 ms) of concealment for a lost
// packet: libopus wants the buffer to be exactly the missing duration. When
// next, the packet after the loss, is SILK or hybrid it may carry the lost
// packet's in-band FEC (LBRR) and libopus decodes that; CELT-only packets
// carry none, so PLC runs instead. fec reports which was asked for.
//
// hot path: no alloc.
func (d *OpusDecoder) Conceal(next []byte, samples int) (pcm []int16, fec bool, err error) {
	samples = min(samples, len(d.pcm))
	buf := d.pcm[:samples:samples]
	if len(next) > 0 && next[0]>>3 < 16 { // TOC config 0-15: SILK or hybrid
		if err := d.dec.DecodeFEC(next, buf); err == nil {
			return buf, true, nil
		}
	}
	if err := d.dec.DecodePLC(buf); err != nil {
		return nil, false, err
	}
	return buf, false, nil
}
