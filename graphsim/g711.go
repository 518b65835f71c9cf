package graphsim

// A phone (PSTN) participant reaches Teams through a gateway that carries
// G.711; graphsim sends such a participant as µ-law (PCMU, payload type 0),
// so that the bot's G.711 path is played end to end. The encoder is the
// classic segment search of ITU-T G.711: graphsim encodes a call's packets
// once before it starts, so it is not on a hot path.

const (
	ulawBias = 0x84  // added to the magnitude so every segment starts at a power of two
	ulawClip = 32635 // largest magnitude that stays below 0x7FFF once biased
)

// encodeULaw encodes 16-bit linear samples to µ-law and returns
// dst[:len(pcm)], reusing dst's array when it is large enough.
func encodeULaw(dst []byte, pcm []int16) []byte {
	if cap(dst) < len(pcm) {
		dst = make([]byte, len(pcm))
	}
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = linearToULaw(s)
	}
	return dst
}

// linearToULaw encodes one sample: sign, the 3-bit segment of the biased
// magnitude (the position of its leading one above bit 7) and the 4 bits
// after that one, all inverted as G.711 sends them.
func linearToULaw(s int16) byte {
	mag := int32(s)
	var sign byte
	if mag < 0 {
		mag, sign = -mag, 0x80
	}
	mag = min(mag, ulawClip) + ulawBias
	seg := byte(0)
	for m := mag >> 8; m > 0 && seg < 7; m >>= 1 {
		seg++
	}
	mantissa := byte(mag>>(seg+3)) & 0x0F
	return ^(sign | seg<<4 | mantissa)
}
