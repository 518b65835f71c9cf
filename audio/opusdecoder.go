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
func (d *OpusDecoder) Decode(payload []byte) ([]int16, error) {
	n, err := d.dec.Decode(payload, d.pcm)
	if err != nil {
		return nil, err
	}
	return d.pcm[:n], nil
}

// Conceal returns samples of packet-loss concealment for a missing stretch
// (a multiple of 2.5 ms): libopus wants the buffer to be exactly that long.
func (d *OpusDecoder) Conceal(samples int) ([]int16, error) {
	if samples > len(d.pcm) {
		samples = len(d.pcm)
	}
	buf := d.pcm[:samples:samples]
	if err := d.dec.DecodePLC(buf); err != nil {
		return nil, err
	}
	return buf, nil
}
