package mediasession

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
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
// gathered. Every section's m= port and c= address are those of the default
// candidate (RFC 8839's default destination): the offer is complete, so
// it names a real address rather than the trickle placeholder.
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
	dest := defaultDestination(p.candidates)
	for _, mid := range mids {
		line("m=audio %d UDP/TLS/RTP/SAVPF %s", dest.Port(), strings.Join(pts, " "))
		if dest.Addr().Is4() {
			line("c=IN IP4 %s", dest.Addr())
		} else {
			line("c=IN IP6 %s", dest.Addr())
		}
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

// defaultDestination is the address an offer's m= and c= lines name: the
// first IPv4 candidate's (the likeliest to work), else the first
// candidate's, else the placeholder IN IP4 0.0.0.0 port 9 that JSEP and
// Trickle ICE (RFC 8840) write when there are no candidates yet.
func defaultDestination(candidates []string) netip.AddrPort {
	first := netip.AddrPort{}
	for _, c := range candidates {
		// foundation component transport priority address port typ type …
		f := strings.Fields(c)
		if len(f) < 8 {
			continue
		}
		addr, err := netip.ParseAddr(f[4])
		port, perr := strconv.ParseUint(f[5], 10, 16)
		if err != nil || perr != nil || addr.Zone() != "" {
			continue
		}
		ap := netip.AddrPortFrom(addr.Unmap(), uint16(port))
		if ap.Addr().Is4() {
			return ap
		}
		if !first.IsValid() {
			first = ap
		}
	}
	if first.IsValid() {
		return first
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 9)
}
