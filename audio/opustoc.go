package audio

// maxOpusFrameBytes is the largest Opus frame (RFC 6716 §3.4 R2).
const maxOpusFrameBytes = 1275

// maxOpusPacketSamples is the longest Opus packet, 120 ms at 48 kHz
// (RFC 6716 §3.4 R5).
const maxOpusPacketSamples = 5760

// opusFrameSamples is the duration of one frame, in 48 kHz samples, for
// each TOC configuration (RFC 6716 §3.1, Table 2): SILK-only 10/20/40/60 ms
// in three bandwidths, Hybrid 10/20 ms in two, CELT-only 2.5/5/10/20 ms in
// four.
var opusFrameSamples = [32]int32{
	480, 960, 1920, 2880, // SILK NB
	480, 960, 1920, 2880, // SILK MB
	480, 960, 1920, 2880, // SILK WB
	480, 960, // Hybrid SWB
	480, 960, // Hybrid FB
	120, 240, 480, 960, // CELT NB
	120, 240, 480, 960, // CELT WB
	120, 240, 480, 960, // CELT SWB
	120, 240, 480, 960, // CELT FB
}

// OpusSamples is the number of 48 kHz samples the Opus packet payload
// decodes to: its TOC byte's frame duration times its frame count (RFC 6716
// §3.1-3.2: code 0 one frame, codes 1 and 2 two, code 3 the count in its
// second byte). It checks the packet's framing the way libopus does before
// it decodes (RFC 6716 §3.4 R1-R7: frame lengths within the packet, none
// over 1275 bytes, CBR lengths that divide evenly, padding that fits, at most
// 120 ms) and fails with an error wrapping ErrBadOpusPacket where libopus
// would refuse the packet. A frame of zero bytes is valid: it asks the
// decoder to conceal (RFC 6716 §3.2.1), and still lasts its duration.
//
// hot path: no alloc.
func OpusSamples(payload []byte) (int, error) {
	if len(payload) == 0 {
		return 0, badOpus("empty")
	}
	toc := payload[0]
	frame := int(opusFrameSamples[toc>>3])
	data := payload[1:]
	count, last := 1, len(data) // frames; bytes of the last (or each CBR) frame
	switch toc & 3 {
	case 0:
	case 1: // two frames of equal size
		if len(data)%2 != 0 {
			return 0, badOpus("code 1 with an odd length")
		}
		count, last = 2, len(data)/2
	case 2: // two frames, the first one's length coded
		size, n := opusFrameLength(data)
		if n < 0 || size > len(data)-n {
			return 0, badOpus("code 2 first frame overruns the packet")
		}
		count, last = 2, len(data)-n-size
	case 3: // frame count byte: v p M(6)
		if len(data) < 1 {
			return 0, badOpus("code 3 without a frame count")
		}
		ch := data[0]
		data = data[1:]
		count = int(ch & 0x3f)
		if count == 0 || count*frame > maxOpusPacketSamples {
			return 0, badOpus("code 3 with no frames or over 120 ms")
		}
		size := len(data) // bytes left for frames once padding is taken off
		if ch&0x40 != 0 { // padding: length bytes, 255 meaning 254 and another
			for {
				if len(data) == 0 {
					return 0, badOpus("code 3 padding length runs off the packet")
				}
				p := int(data[0])
				data = data[1:]
				size--
				if p == 255 {
					size -= 254
					continue
				}
				size -= p
				break
			}
		}
		if size < 0 {
			return 0, badOpus("code 3 padding longer than the packet")
		}
		if ch&0x80 != 0 { // VBR: every frame but the last has its length coded
			last = size
			for range count - 1 {
				fl, n := opusFrameLength(data)
				size -= max(n, 0)
				if n < 0 || fl > size {
					return 0, badOpus("code 3 VBR frame overruns the packet")
				}
				data = data[n:]
				last -= n + fl
			}
			if last < 0 {
				return 0, badOpus("code 3 VBR frames overrun the packet")
			}
		} else { // CBR
			last = size / count
			if last*count != size {
				return 0, badOpus("code 3 CBR length not a multiple of the frame count")
			}
		}
	}
	if last > maxOpusFrameBytes {
		return 0, badOpus("frame over 1275 bytes")
	}
	return count * frame, nil
}

// badOpus is an error of OpusSamples: it wraps ErrBadOpusPacket and, being
// a constant string, returning it does not allocate (a malformed packet is
// as cheap as a good one on the hot path).
type badOpus string

func (e badOpus) Error() string { return ErrBadOpusPacket.Error() + ": " + string(e) }
func (e badOpus) Unwrap() error { return ErrBadOpusPacket }

// opusFrameLength reads a frame length coded in one or two bytes (RFC 6716
// §3.2.1) from the front of data: the length and the bytes it took, or
// n = -1 if data ends first.
func opusFrameLength(data []byte) (size, n int) {
	switch {
	case len(data) < 1:
		return 0, -1
	case data[0] < 252:
		return int(data[0]), 1
	case len(data) < 2:
		return 0, -1
	default:
		return 4*int(data[1]) + int(data[0]), 2
	}
}
