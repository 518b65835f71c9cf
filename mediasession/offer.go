package mediasession

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
)

// offerParams is what an offer says of the bot's side.
type offerParams struct {
	sections    int
	ufrag, pwd  string
	fingerprint string   // sha-256
	candidates  []string // a=candidate values
	lite        bool
}

// buildOffer writes the WebRTC offer of a session: sections recvonly audio
// sections bundled on one transport (ICE + DTLS-SRTP, rtcp-mux), each
// offering Opus with in-band FEC and G.711 and the RFC 6464 audio level
// header extension (one-byte form, RFC 8285), with every candidate
// gathered.
func buildOffer(p offerParams) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	line("v=0")
	line("o=- %d 1 IN IP4 0.0.0.0", binary.BigEndian.Uint64(id[:])>>1)
	line("s=-")
	line("t=0 0")
	mids := make([]string, p.sections)
	for i := range mids {
		mids[i] = fmt.Sprint(i)
	}
	line("a=group:BUNDLE %s", strings.Join(mids, " "))
	if p.lite {
		line("a=ice-lite")
	}
	pts := make([]string, len(offeredPayloadTypes))
	for i, pt := range offeredPayloadTypes {
		pts[i] = fmt.Sprint(pt)
	}
	for _, mid := range mids {
		line("m=audio 9 UDP/TLS/RTP/SAVPF %s", strings.Join(pts, " "))
		line("c=IN IP4 0.0.0.0")
		line("a=setup:actpass")
		line("a=mid:%s", mid)
		line("a=ice-ufrag:%s", p.ufrag)
		line("a=ice-pwd:%s", p.pwd)
		line("a=fingerprint:sha-256 %s", p.fingerprint)
		line("a=rtcp-mux")
		line("a=extmap:%d %s", offeredAudioLevelID, AudioLevelURI)
		for _, pt := range offeredPayloadTypes {
			c := offeredCodecs[pt]
			name := strings.TrimPrefix(c.mimeType, "audio/")
			if c.channels > 1 {
				line("a=rtpmap:%d %s/%d/%d", pt, name, c.clockRate, c.channels)
			} else {
				line("a=rtpmap:%d %s/%d", pt, name, c.clockRate)
			}
			if c.fmtp != "" {
				line("a=fmtp:%d %s", pt, c.fmtp)
			}
		}
		line("a=recvonly")
		for _, c := range p.candidates {
			line("a=candidate:%s", c)
		}
		line("a=end-of-candidates")
	}
	return b.String()
}
