package mediasession

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// remoteParams is what the media processor's answer says of its side.
type remoteParams struct {
	ufrag, pwd      string
	candidates      []ice.Candidate
	fingerprintHash crypto.Hash
	fingerprint     string // hex pairs, colon-separated
	// dtlsClient is the bot's DTLS role: client when the answer is
	// setup:passive, server otherwise (active, RFC 4145's default).
	dtlsClient bool
	lite       bool     // the peer is an ICE-lite agent
	ssrcs      []uint32 // declared in a=ssrc lines
	sending    int      // audio sections the peer sends on
	// levelIDs is the audio level extension id (AudioLevelURI) of each
	// declared SSRC, 0 where its section did not take it; levelID is the
	// one for sources no a=ssrc line declared: the id the sections that
	// took the extension agree on (one BUNDLE transport maps an id to one
	// extension, RFC 8843 §9.1), 0 when none took it or they disagree.
	levelIDs map[uint32]uint8
	levelID  uint8
}

// maxSourcesPerSection bounds the SSRCs an answer may declare, and so the
// decoders a peer can make the bot hold.
const maxSourcesPerSection = 4

// readAnswer parses and checks the answer, so that a hostile SDP is refused
// with a clear error (and a parser panic cannot take the bot down), and a
// 400 leaves the session open for a corrected answer. An answer has as many
// sections as the offer, in its order (RFC 3264 §6).
func readAnswer(answer []byte, sections int) (p remoteParams, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: unparsable", ErrBadSDP)
		}
	}()
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(string(answer)); err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	audio := 0
	levels := levelAgreement{}
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			audio++
			if err := readSources(m, &p, &levels); err != nil {
				return p, fmt.Errorf("%w: %v", ErrBadSDP, err)
			}
		}
		if err := checkCodecs(m); err != nil {
			return p, fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
	}
	switch {
	case audio == 0:
		return p, fmt.Errorf("%w: no audio section", ErrBadSDP)
	case len(desc.MediaDescriptions) != sections:
		return p, fmt.Errorf("%w: %d sections, the offer has %d", ErrBadSDP, len(desc.MediaDescriptions), sections)
	case len(p.ssrcs) > maxSourcesPerSection*sections:
		return p, fmt.Errorf("%w: %d SSRCs declared", ErrBadSDP, len(p.ssrcs))
	}
	if err := readTransport(&desc, &p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.levelID = levels.id()
	return p, nil
}

// levelAgreement is the audio level extension id the audio sections of an
// answer agree on.
type levelAgreement struct {
	agreed   uint8
	disagree bool
}

func (l *levelAgreement) add(id uint8) {
	switch {
	case id == 0 || id == l.agreed:
	case l.agreed == 0:
		l.agreed = id
	default:
		l.disagree = true
	}
}

func (l *levelAgreement) id() uint8 {
	if l.disagree {
		return 0
	}
	return l.agreed
}

// readSources notes the SSRCs an audio section declares, whether the peer
// sends on it and the id its packets carry audio levels under.
func readSources(m *sdp.MediaDescription, p *remoteParams, levels *levelAgreement) error {
	level := audioLevelID(m)
	levels.add(level)
	if p.levelIDs == nil {
		p.levelIDs = map[uint32]uint8{}
	}
	sends := true
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			sends = false
		case "ssrc":
			field, _, _ := strings.Cut(a.Value, " ")
			ssrc, err := strconv.ParseUint(field, 10, 32)
			if err != nil {
				return fmt.Errorf("ssrc %q", field)
			}
			if !slices.Contains(p.ssrcs, uint32(ssrc)) {
				p.ssrcs = append(p.ssrcs, uint32(ssrc))
				p.levelIDs[uint32(ssrc)] = level
			}
		}
	}
	if sends {
		p.sending++
	}
	return nil
}

// audioLevelID is the id the answer's section m maps AudioLevelURI to, or 0
// when it maps none the bot can use. The bot offered the one-byte form, so
// only 1..14 are ids (RFC 8285 §4.2: 0 is padding, 15 reserved); an id
// outside them, or one the answerer does not send with (recvonly,
// inactive), is ignored, not refused: the call goes on without levels.
func audioLevelID(m *sdp.MediaDescription) uint8 {
	for _, a := range m.Attributes {
		if a.Key != sdp.AttrKeyExtMap {
			continue
		}
		id, direction, uri, err := readExtMap(a.Value)
		if err != nil || uri != AudioLevelURI {
			continue
		}
		if id < 1 || id > 14 || direction == "recvonly" || direction == "inactive" {
			return 0
		}
		return uint8(id)
	}
	return 0
}

// readExtMap parses an a=extmap value, "<id>[/<direction>] <uri>
// [<attributes>]" (RFC 8285 §8). It refuses what is not one (no number for
// the id, an unknown direction, no URI or one that does not parse) but not
// an id out of range: the bot uses one extension, and judges its id itself
// (audioLevelID).
func readExtMap(value string) (id uint64, direction, uri string, err error) {
	fields := strings.Fields(value)
	if len(fields) < 2 {
		return 0, "", "", errors.New("no id and URI")
	}
	idField, direction, _ := strings.Cut(fields[0], "/")
	if id, err = strconv.ParseUint(idField, 10, 16); err != nil {
		return 0, "", "", fmt.Errorf("id %q", idField)
	}
	switch direction {
	case "", "sendrecv", "sendonly", "recvonly", "inactive":
	default:
		return 0, "", "", fmt.Errorf("direction %q", direction)
	}
	if _, err := url.Parse(fields[1]); err != nil {
		return 0, "", "", fmt.Errorf("URI %q", fields[1])
	}
	return id, direction, fields[1], nil
}

// checkCodecs refuses a section whose payload types or header extensions
// do not parse (an extension id that parses but is out of range is not a
// reason: see audioLevelID).
func checkCodecs(m *sdp.MediaDescription) error {
	kind := strings.ToLower(m.MediaName.Media)
	if kind != "audio" && kind != "video" {
		return nil
	}
	codecs := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{m}}).GetCodecMap()
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return fmt.Errorf("payload type %q", f)
		}
		if _, ok := codecs[uint8(pt)]; !ok && pt != 0 {
			return fmt.Errorf("payload type %d has no rtpmap", pt)
		}
	}
	for _, a := range m.Attributes {
		if a.Key == sdp.AttrKeyExtMap {
			if _, _, _, err := readExtMap(a.Value); err != nil {
				return fmt.Errorf("extmap %q: %v", a.Value, err)
			}
		}
	}
	return nil
}

// readTransport reads ICE credentials, candidates, DTLS fingerprint and
// role as WebRTC stacks write them: session level first, else the
// BUNDLE-tagged section (without BUNDLE: the first section).
func readTransport(desc *sdp.SessionDescription, p *remoteParams) error {
	p.ufrag, _ = desc.Attribute("ice-ufrag")
	p.pwd, _ = desc.Attribute("ice-pwd")
	_, p.lite = desc.Attribute("ice-lite")
	setup, _ := desc.Attribute("setup")
	if m := candidateSection(desc); m != nil {
		var err error
		if p.candidates, err = readCandidates(m); err != nil {
			return err
		}
		if u, _ := m.Attribute("ice-ufrag"); p.ufrag == "" && u != "" {
			p.ufrag = u
			p.pwd, _ = m.Attribute("ice-pwd")
		}
		if s, ok := m.Attribute("setup"); ok && setup == "" {
			setup = s
		}
	}
	switch {
	case p.ufrag == "":
		return errors.New("no ICE ufrag")
	case p.pwd == "":
		return errors.New("no ICE pwd")
	}
	p.dtlsClient = setup == "passive"
	return readFingerprint(dtlsFingerprint(desc), p)
}

func readFingerprint(f string, p *remoteParams) error {
	if f == "" {
		return errors.New("no DTLS fingerprint")
	}
	name, value, ok := strings.Cut(f, " ")
	if !ok || value == "" || strings.Contains(value, " ") {
		return fmt.Errorf("DTLS fingerprint %q is not \"hash value\"", f)
	}
	hash, err := fingerprint.HashFromString(strings.ToLower(name))
	if err != nil {
		return fmt.Errorf("DTLS fingerprint hash %q: %v", name, err)
	}
	p.fingerprintHash, p.fingerprint = hash, value
	return nil
}

func candidateSection(desc *sdp.SessionDescription) *sdp.MediaDescription {
	bundle := bundleID(desc)
	for _, m := range desc.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); bundle == "" || mid == bundle {
			return m
		}
	}
	return nil
}

func dtlsFingerprint(desc *sdp.SessionDescription) string {
	if f, ok := desc.Attribute("fingerprint"); ok && f != "" {
		return f
	}
	bundle := bundleID(desc)
	for _, m := range desc.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); bundle != "" && mid != bundle {
			continue
		}
		if f, ok := m.Attribute("fingerprint"); ok && f != "" {
			return f
		}
	}
	return ""
}

// readCandidates reads a section's candidates, skipping kinds it cannot
// use; it refuses a section whose candidates are all unreadable (none at all
// is fine: the peer is learnt from its ICE checks).
func readCandidates(m *sdp.MediaDescription) ([]ice.Candidate, error) {
	var (
		got []ice.Candidate
		bad error
	)
	for _, a := range m.Attributes {
		if !a.IsICECandidate() {
			continue
		}
		c, err := ice.UnmarshalCandidate(a.Value)
		if err != nil {
			if !errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
				bad = fmt.Errorf("candidate %q: %v", a.Value, err)
			}
			continue
		}
		got = append(got, c)
	}
	if len(got) == 0 && bad != nil {
		return nil, bad
	}
	return got, nil
}

func bundleID(desc *sdp.SessionDescription) string {
	group, _ := desc.Attribute(sdp.AttrKeyGroup)
	if !strings.Contains(group, "BUNDLE") {
		return ""
	}
	if ids := strings.Split(group, " "); len(ids) >= 2 {
		return ids[1]
	}
	return ""
}
