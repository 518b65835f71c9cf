package audio

// G.711 (ITU-T G.711) is what phone (PSTN) legs of a call carry: one byte per
// sample at 8 kHz, µ-law (PCMU, payload type 0) or A-law (PCMA, payload
// type 8). Decoding is a pure function of the byte, so both laws are decoded
// through 256-entry tables built once at package init: one load per sample
// on the hot path instead of the segment bit-math. The output is 8 kHz;
// Upsampler brings it to the output rate.

// ulawTable and alawTable map every G.711 code to its 16-bit linear sample.
var (
	ulawTable = makeULawTable()
	alawTable = makeALawTable()
)

// DecodeULaw decodes µ-law (PCMU) bytes to 16-bit linear samples and returns
// dst[:len(src)]. dst's backing array is reused when cap(dst) >= len(src),
// else a new one is allocated.
//
// hot path: no alloc
func DecodeULaw(dst []int16, src []byte) []int16 {
	dst = resizeSamples(dst, len(src))
	for i, code := range src {
		dst[i] = ulawTable[code]
	}
	return dst
}

// DecodeALaw decodes A-law (PCMA) bytes to 16-bit linear samples and returns
// dst[:len(src)], with the same reuse contract as DecodeULaw.
//
// hot path: no alloc
func DecodeALaw(dst []int16, src []byte) []int16 {
	dst = resizeSamples(dst, len(src))
	for i, code := range src {
		dst[i] = alawTable[code]
	}
	return dst
}

// resizeSamples returns dst with length n, reusing its array when it fits.
func resizeSamples(dst []int16, n int) []int16 {
	if cap(dst) < n {
		return make([]int16, n)
	}
	return dst[:n]
}

// makeULawTable decodes every µ-law code: bits are sent inverted; the
// magnitude is ((mantissa<<3) + bias) << segment, minus the bias 0x84.
func makeULawTable() (t [256]int16) {
	for c := range 256 {
		u := ^byte(c)
		mag := (int32(u&0x0F)<<3 + 0x84) << ((u & 0x70) >> 4)
		if u&0x80 != 0 {
			t[c] = int16(0x84 - mag)
		} else {
			t[c] = int16(mag - 0x84)
		}
	}
	return t
}

// makeALawTable decodes every A-law code: even bits are sent inverted
// (XOR 0x55); segment 0 is linear, higher segments double per step; a set
// sign bit means positive.
func makeALawTable() (t [256]int16) {
	for c := range 256 {
		a := byte(c) ^ 0x55
		mag := int32(a&0x0F) << 4
		switch seg := (a & 0x70) >> 4; seg {
		case 0:
			mag += 8
		case 1:
			mag += 0x108
		default:
			mag = (mag + 0x108) << (seg - 1)
		}
		if a&0x80 != 0 {
			t[c] = int16(mag)
		} else {
			t[c] = int16(-mag)
		}
	}
	return t
}
