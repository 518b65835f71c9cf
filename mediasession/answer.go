package mediasession

import (
	"crypto"
	"errors"
	"fmt"
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
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			audio++
			if err := readSources(m, &p); err != nil {
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
	return p, nil
}

// readSources notes the SSRCs an audio section declares and whether the
// peer sends on it.
func readSources(m *sdp.MediaDescription, p *remoteParams) error {
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
			}
		}
	}
	if sends {
		p.sending++
	}
	return nil
}

// checkCodecs refuses a section whose payload types or header extensions
// do not parse.
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
			var ext sdp.ExtMap
			if err := ext.Unmarshal(a.String()); err != nil {
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
