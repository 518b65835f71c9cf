package mediasession

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The offer is read line by line against the grammars strict SDP parsers
// (Firefox's SIPCC, libwebrtc, SIP stacks) hold it to: RFC 8866 (SDP), 3264
// (offer/answer), 8122 (fingerprint), 8839 (ICE), 8840 (end-of-candidates),
// 8842 (setup), 8843 (BUNDLE), 8285 (extmap), 5761 (rtcp-mux), 8830 (msid).
// Firefox refused the offer when a=fingerprint was in lowercase hex.
func TestOfferFollowsTheSDPGrammars(t *testing.T) {
	cases := []struct {
		name string
		eng  EngineConfig
		sess SessionConfig
	}{
		{"IPv4", EngineConfig{BindIP: "127.0.0.1"}, SessionConfig{}},
		{"IPv6", EngineConfig{BindIP: "::1"}, SessionConfig{AudioSections: 6}},
		{"ICE-lite behind 1:1 NAT", EngineConfig{BindIP: "127.0.0.1", ICELite: true, PublicIP: "192.0.2.7"}, SessionConfig{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEngine(t, c.eng)
			for range 20 { // ufrag, pwd and sess-id are random: several draws
				s := newTestSession(t, e, c.sess)
				if errs := checkOfferGrammar(s.Blob().Offer, c.eng.ICELite); len(errs) > 0 {
					t.Fatalf("offer breaks the grammar:\n%s\noffer:\n%s", strings.Join(errs, "\n"), s.Blob().Offer)
				}
				_ = s.Close()
			}
		})
	}
}

// A lowercase fingerprint, a missing mid, a bad ufrag… each is caught: the
// check is not vacuous.
func TestOfferGrammarCheckCatchesWhatParsersRefuse(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	good := newTestSession(t, e, SessionConfig{}).Blob().Offer
	if errs := checkOfferGrammar(good, false); len(errs) > 0 {
		t.Fatalf("good offer refused: %v", errs)
	}
	fp := regexp.MustCompile(`a=fingerprint:sha-256 (\S+)`).FindStringSubmatch(good)[1]
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(good)[1]
	bad := map[string]string{
		"lowercase fingerprint": strings.ReplaceAll(good, fp, strings.ToLower(fp)),
		"short fingerprint":     strings.ReplaceAll(good, fp, fp[:len(fp)-3]),
		"bare LF":               strings.ReplaceAll(good, "\r\n", "\n"),
		"t= before s=":          strings.Replace(good, "s=-\r\nt=0 0\r\n", "t=0 0\r\ns=-\r\n", 1),
		"empty s=":              strings.Replace(good, "s=-\r\n", "s=\r\n", 1),
		"unknown mid in BUNDLE": strings.Replace(good, "a=group:BUNDLE 0", "a=group:BUNDLE 9 0", 1),
		"ufrag too short":       strings.ReplaceAll(good, "ice-ufrag:"+ufrag, "ice-ufrag:abc"),
		"ufrag with a dash":     strings.ReplaceAll(good, "ice-ufrag:"+ufrag, "ice-ufrag:ab-cd"),
		"setup:active":          strings.ReplaceAll(good, "a=setup:actpass", "a=setup:active"),
		"rtpmap of no format":   strings.Replace(good, "a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000", 1),
		"fmtp with spaces":      strings.Replace(good, "minptime=10;useinbandfec=1", "minptime=10; useinbandfec=1", 1),
		"extmap id 15":          strings.Replace(good, "a=extmap:1 ", "a=extmap:15 ", 1),
		"two directions":        strings.Replace(good, "a=recvonly\r\n", "a=recvonly\r\na=sendrecv\r\n", 1),
		"candidate typ missing": strings.Replace(good, " typ host", " host", 1),
		"ssrc without attr":     strings.Replace(good, "a=recvonly\r\n", "a=recvonly\r\na=ssrc:1\r\n", 1),
		"msid-semantic bad":     strings.Replace(good, "t=0 0\r\n", "t=0 0\r\na=msid-semantic: WMS\r\n", 1),
		"c= of no address":      strings.Replace(good, "c=IN IP4 ", "c=IN IP4 x", 1),
	}
	for name, offer := range bad {
		if offer == good {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if errs := checkOfferGrammar(offer, false); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

var (
	tokenRE       = regexp.MustCompile(`^[!#$%&'*+\-.0-9A-Z^_` + "`" + `a-z{|}~]+$`) // RFC 8866 token
	iceCharsRE    = regexp.MustCompile(`^[A-Za-z0-9+/]+$`)                           // RFC 8839 ice-char
	fingerprintRE = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2})*$`)               // RFC 8122 2UHEX
	digitsRE      = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	fmtpParamRE   = regexp.MustCompile(`^[A-Za-z0-9\-_.]+=[^;\s]+$`)
	uriRE         = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:\S+$`)
)

// checkOfferGrammar returns what in offer breaks the grammars, one line each.
func checkOfferGrammar(offer string, lite bool) []string {
	var errs []string
	bad := func(n int, line, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("line %d %q: %s", n, line, fmt.Sprintf(format, args...)))
	}
	if !strings.HasSuffix(offer, "\r\n") {
		errs = append(errs, "the offer does not end in CRLF")
	}
	lines := strings.Split(strings.TrimSuffix(offer, "\r\n"), "\r\n")

	// RFC 8866 §5: session-level types in this order, then media sections.
	sessionOrder := "vosiuepcbtrzka"
	mediaOrder := "micbka"
	type section struct {
		start                                int
		formats                              []string
		mid, ufrag, pwd, fingerprint, setup  string
		direction                            []string
		rtpmaps                              map[string]string
		extmaps                              map[int]string
		rtcpMux, endOfCandidates, candidates int
		hasC                                 bool
	}
	var (
		sections []*section
		cur      *section
		pos      int // index in the order string of the last line's type
		bundle   []string
		sawLite  bool
		seenOnce = map[byte]bool{}
	)
	for i, line := range lines {
		n := i + 1
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			bad(n, line, "not <type>=<value> with a one-letter lowercase type")
			continue
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			bad(n, line, "CR, LF or NUL inside a line")
		}
		if strings.TrimRight(line, " \t") != line {
			bad(n, line, "trailing whitespace")
		}
		typ, value := line[0], line[2:]
		if i == 0 && line != "v=0" {
			bad(n, line, "an SDP starts with v=0")
		}
		if typ == 'm' {
			cur = &section{start: n, rtpmaps: map[string]string{}, extmaps: map[int]string{}}
			sections = append(sections, cur)
			pos = 0
		}
		order := sessionOrder
		if cur != nil {
			order = mediaOrder
		}
		k := strings.IndexByte(order, typ)
		switch {
		case k < 0:
			bad(n, line, "type %c is not allowed here", typ)
		case k < pos && !(cur == nil && typ == 't' && order[pos] == 'r'):
			bad(n, line, "type %c out of RFC 8866's order", typ)
		default:
			pos = k
		}
		if cur == nil && strings.IndexByte("vos", typ) >= 0 {
			if seenOnce[typ] {
				bad(n, line, "more than one %c= line", typ)
			}
			seenOnce[typ] = true
		}
		switch typ {
		case 'o':
			f := strings.Split(value, " ")
			if len(f) != 6 {
				bad(n, line, "o= has 6 fields")
				break
			}
			if strings.ContainsAny(f[0], " \t") || f[0] == "" {
				bad(n, line, "username")
			}
			if id, err := strconv.ParseUint(f[1], 10, 64); !digitsRE.MatchString(f[1]) || err != nil || id >= 1<<63 {
				bad(n, line, "sess-id must be digits below 2^63 (RFC 8829 §5.2.1)")
			}
			if !digitsRE.MatchString(f[2]) {
				bad(n, line, "sess-version must be digits")
			}
			checkAddress(f[3], f[4], f[5], func(msg string) { bad(n, line, "%s", msg) })
		case 's':
			if value == "" {
				bad(n, line, "s= must not be empty (RFC 8866 §5.3: \"-\" or a space)")
			}
		case 't':
			f := strings.Split(value, " ")
			if len(f) != 2 || !digitsRE.MatchString(f[0]) || !digitsRE.MatchString(f[1]) {
				bad(n, line, "t=<start> <stop>")
			} else if value != "0 0" {
				bad(n, line, "a WebRTC session is unbounded: t=0 0")
			}
		case 'c':
			f := strings.Split(value, " ")
			if len(f) != 3 {
				bad(n, line, "c=<nettype> <addrtype> <address>")
				break
			}
			checkAddress(f[0], f[1], f[2], func(msg string) { bad(n, line, "%s", msg) })
			if cur != nil {
				cur.hasC = true
			}
		case 'm':
			f := strings.Split(value, " ")
			if len(f) < 4 {
				bad(n, line, "m=<media> <port> <proto> <fmt> ...")
				break
			}
			if f[0] != "audio" {
				bad(n, line, "media %q", f[0])
			}
			if port, err := strconv.ParseUint(f[1], 10, 16); err != nil || !digitsRE.MatchString(f[1]) || port == 0 {
				bad(n, line, "port %q", f[1])
			}
			if f[2] != "UDP/TLS/RTP/SAVPF" {
				bad(n, line, "proto %q, want UDP/TLS/RTP/SAVPF (RFC 5764)", f[2])
			}
			for _, pt := range f[3:] {
				if v, err := strconv.ParseUint(pt, 10, 8); err != nil || v > 127 || !digitsRE.MatchString(pt) {
					bad(n, line, "payload type %q", pt)
				}
				if slices.Contains(cur.formats, pt) {
					bad(n, line, "payload type %s twice", pt)
				}
				cur.formats = append(cur.formats, pt)
			}
		case 'a':
			name, val, hasVal := strings.Cut(value, ":")
			if !tokenRE.MatchString(name) {
				bad(n, line, "attribute name is not a token")
				continue
			}
			flag := func() {
				if hasVal {
					bad(n, line, "a=%s takes no value", name)
				}
			}
			sessionOnly := func() {
				if cur != nil {
					bad(n, line, "a=%s is session-level", name)
				}
			}
			mediaOnly := func() bool {
				if cur == nil {
					bad(n, line, "a=%s is media-level here", name)
					return false
				}
				return true
			}
			switch name {
			case "group":
				sessionOnly()
				f := strings.Split(val, " ")
				if f[0] != "BUNDLE" || len(f) < 2 {
					bad(n, line, "a=group:BUNDLE <mid> ...")
				}
				for _, mid := range f[1:] {
					if !tokenRE.MatchString(mid) || slices.Contains(bundle, mid) {
						bad(n, line, "identification-tag %q", mid)
					}
					bundle = append(bundle, mid)
				}
			case "ice-lite":
				sessionOnly()
				flag()
				sawLite = true
			case "msid-semantic":
				sessionOnly()
				// RFC 8830 drafts: "msid-semantic: WMS *" or with stream ids.
				f := strings.Fields(val)
				if len(f) < 2 || f[0] != "WMS" {
					bad(n, line, "a=msid-semantic: WMS <id>|*")
				}
			case "mid":
				if mediaOnly() {
					if !tokenRE.MatchString(val) {
						bad(n, line, "mid is a token (RFC 5888)")
					}
					cur.mid = val
				}
			case "ice-ufrag", "ice-pwd":
				min := map[string]int{"ice-ufrag": 4, "ice-pwd": 22}[name]
				if len(val) < min || len(val) > 256 || !iceCharsRE.MatchString(val) {
					bad(n, line, "%s is %d to 256 ice-chars (RFC 8839 §5.4)", name, min)
				}
				if cur != nil && name == "ice-ufrag" {
					cur.ufrag = val
				} else if cur != nil {
					cur.pwd = val
				}
			case "fingerprint":
				hash, fp, ok := strings.Cut(val, " ")
				sizes := map[string]int{"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64}
				if !ok || sizes[strings.ToLower(hash)] == 0 {
					bad(n, line, "hash function %q (RFC 8122 §5)", hash)
				} else if !fingerprintRE.MatchString(fp) || (len(fp)+1)/3 != sizes[strings.ToLower(hash)] {
					bad(n, line, "fingerprint must be %d uppercase hex pairs (RFC 8122 §5: 2UHEX)", sizes[strings.ToLower(hash)])
				}
				if cur != nil {
					cur.fingerprint = val
				}
			case "setup":
				if val != "actpass" {
					bad(n, line, "an offer's setup is actpass (RFC 8842 §5.2)")
				}
				if cur != nil {
					cur.setup = val
				}
			case "rtcp-mux":
				flag()
				if mediaOnly() {
					cur.rtcpMux++
				}
			case "sendrecv", "sendonly", "recvonly", "inactive":
				flag()
				if mediaOnly() {
					cur.direction = append(cur.direction, name)
				}
			case "rtpmap":
				if !mediaOnly() {
					break
				}
				pt, enc, _ := strings.Cut(val, " ")
				f := strings.Split(enc, "/")
				if !slices.Contains(cur.formats, pt) {
					bad(n, line, "rtpmap of payload type %s, not in the m= line", pt)
				}
				if _, dup := cur.rtpmaps[pt]; dup {
					bad(n, line, "second rtpmap for %s", pt)
				}
				if len(f) < 2 || len(f) > 3 || !tokenRE.MatchString(f[0]) || !digitsRE.MatchString(f[1]) || (len(f) == 3 && !digitsRE.MatchString(f[2])) {
					bad(n, line, "rtpmap is <pt> <name>/<clock>[/<channels>]")
				}
				static := map[string]string{"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000"}
				if want, ok := static[pt]; ok && !strings.EqualFold(enc, want) && !strings.EqualFold(enc, want+"/1") {
					bad(n, line, "static payload type %s is %s (RFC 3551)", pt, want)
				}
				cur.rtpmaps[pt] = enc
			case "fmtp":
				if !mediaOnly() {
					break
				}
				pt, params, ok := strings.Cut(val, " ")
				if !ok || !slices.Contains(cur.formats, pt) {
					bad(n, line, "fmtp of payload type %s, not in the m= line", pt)
				}
				for _, p := range strings.Split(params, ";") {
					if !fmtpParamRE.MatchString(p) {
						bad(n, line, "fmtp parameter %q is not name=value without spaces", p)
					}
				}
			case "extmap":
				if !mediaOnly() {
					break
				}
				id, _, uri, err := readExtMap(val)
				switch {
				case err != nil:
					bad(n, line, "%v", err)
				case id < 1 || id > 14:
					bad(n, line, "one-byte extension ids are 1..14 (RFC 8285 §4.2)")
				case !uriRE.MatchString(uri):
					bad(n, line, "URI %q", uri)
				}
				if _, dup := cur.extmaps[int(id)]; dup {
					bad(n, line, "extension id %d twice", id)
				}
				cur.extmaps[int(id)] = uri
			case "candidate":
				if mediaOnly() {
					cur.candidates++
					checkCandidate(val, func(msg string) { bad(n, line, "%s", msg) })
				}
			case "end-of-candidates":
				flag()
				if cur != nil {
					cur.endOfCandidates++
				}
			case "ssrc":
				// RFC 5576: ssrc-id SP attribute [":" value]
				id, attr, ok := strings.Cut(val, " ")
				if v, err := strconv.ParseUint(id, 10, 32); !ok || err != nil || !digitsRE.MatchString(id) || v > 1<<32-1 {
					bad(n, line, "a=ssrc:<ssrc-id> <attribute>[:<value>]")
				} else if a, _, _ := strings.Cut(attr, ":"); !tokenRE.MatchString(a) {
					bad(n, line, "ssrc attribute %q", a)
				}
				mediaOnly()
			default:
				bad(n, line, "attribute a=%s is not one this check knows: add it with its grammar", name)
			}
		case 'b', 'k', 'i', 'u', 'e', 'p', 'r', 'z':
			bad(n, line, "type %c is not one the offer writes", typ)
		}
	}
	for _, typ := range "vost" {
		if !strings.Contains(offer, string(typ)+"=") {
			errs = append(errs, fmt.Sprintf("no %c= line", typ))
		}
	}
	if !slices.Contains(strings.Split(offer, "\r\n"), "t=0 0") {
		errs = append(errs, "no t= line")
	}
	if lite != sawLite {
		errs = append(errs, fmt.Sprintf("a=ice-lite present: %v, want %v", sawLite, lite))
	}
	// Per section: RFC 8843 (BUNDLE: one transport, the same ICE and DTLS
	// parameters, the same extension ids), RFC 3264 (one direction), RFC
	// 8866 (a connection address for each section), RFC 8839/8840.
	var mids []string
	for i, s := range sections {
		at := func(format string, args ...any) {
			errs = append(errs, fmt.Sprintf("section %d (line %d): %s", i, s.start, fmt.Sprintf(format, args...)))
		}
		if s.mid == "" {
			at("no a=mid")
		} else if slices.Contains(mids, s.mid) {
			at("mid %q twice", s.mid)
		}
		mids = append(mids, s.mid)
		if !s.hasC {
			at("no c= line")
		}
		if s.ufrag == "" || s.pwd == "" || s.fingerprint == "" || s.setup == "" {
			at("ice-ufrag, ice-pwd, fingerprint and setup are each needed")
		}
		if len(s.direction) != 1 || s.direction[0] != "recvonly" {
			at("directions %v, want recvonly alone", s.direction)
		}
		if s.rtcpMux != 1 {
			at("%d a=rtcp-mux, want 1", s.rtcpMux)
		}
		if s.candidates == 0 || s.endOfCandidates != 1 {
			at("%d candidates and %d end-of-candidates: a complete offer has both", s.candidates, s.endOfCandidates)
		}
		for _, pt := range s.formats {
			if v, _ := strconv.Atoi(pt); v >= 96 && s.rtpmaps[pt] == "" {
				at("dynamic payload type %s has no rtpmap", pt)
			}
		}
		if i > 0 {
			first := sections[0]
			if s.ufrag != first.ufrag || s.pwd != first.pwd || s.fingerprint != first.fingerprint {
				at("BUNDLEd sections share one transport: ICE credentials and fingerprint differ")
			}
			if fmt.Sprint(s.extmaps) != fmt.Sprint(first.extmaps) {
				at("BUNDLEd sections map extension ids alike (RFC 8843 §9.1)")
			}
		}
	}
	if !slices.Equal(mids, bundle) {
		errs = append(errs, fmt.Sprintf("a=group:BUNDLE %v, want every section's mid in order %v", bundle, mids))
	}
	return errs
}

// checkAddress checks "<nettype> <addrtype> <address>" (RFC 8866 §5.2, §5.7)
// for unicast IP addresses.
func checkAddress(nettype, addrtype, address string, bad func(string)) {
	if nettype != "IN" {
		bad("nettype " + nettype)
		return
	}
	a, err := netip.ParseAddr(address)
	switch {
	case err != nil || a.Zone() != "":
		bad("address " + address)
	case addrtype == "IP4" && !a.Is4(), addrtype == "IP6" && !a.Is6(), addrtype != "IP4" && addrtype != "IP6":
		bad(fmt.Sprintf("addrtype %s for %s", addrtype, address))
	}
}

// checkCandidate checks an a=candidate value against RFC 8839 §5.1:
// foundation component-id transport priority address port "typ" type
// [raddr rport] *(extension-att-name extension-att-value).
func checkCandidate(v string, bad func(string)) {
	f := strings.Split(v, " ")
	if len(f) < 8 {
		bad("candidate has fewer than 8 fields")
		return
	}
	if len(f[0]) > 32 || !iceCharsRE.MatchString(f[0]) {
		bad("foundation is 1 to 32 ice-chars")
	}
	if f[1] != "1" {
		bad("component-id: with rtcp-mux, only RTP's (1)")
	}
	if !strings.EqualFold(f[2], "udp") {
		bad("transport " + f[2])
	}
	if p, err := strconv.ParseUint(f[3], 10, 32); err != nil || p == 0 || p > 1<<31-1 || !digitsRE.MatchString(f[3]) {
		bad("priority is 1 to 2^31-1")
	}
	if a, err := netip.ParseAddr(f[4]); err != nil || a.IsUnspecified() {
		bad("connection-address " + f[4])
	}
	if p, err := strconv.ParseUint(f[5], 10, 16); err != nil || p == 0 {
		bad("port " + f[5])
	}
	if f[6] != "typ" || !slices.Contains([]string{"host", "srflx", "prflx", "relay"}, f[7]) {
		bad("\"typ <host|srflx|prflx|relay>\"")
	}
	rest := f[8:]
	if len(rest) >= 4 && rest[0] == "raddr" {
		rest = rest[4:]
	}
	if len(rest)%2 != 0 {
		bad("extension attributes come in name value pairs")
	}
	for i := 0; i+1 < len(rest); i += 2 {
		if !tokenRE.MatchString(rest[i]) || rest[i+1] == "" {
			bad(fmt.Sprintf("extension %q %q", rest[i], rest[i+1]))
		}
	}
}
