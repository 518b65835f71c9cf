package mediasession

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// checkAnswer parses the answer before pion sees it, so that a hostile SDP is
// refused with a clear error (and a parser panic cannot take the bot down).
//
// It also checks what pion only checks after it has committed the answer
// (codecs, ICE credentials and candidates, DTLS fingerprint): pion refusing
// an answer there leaves the peer connection unable to take another one, and
// a 400 must leave the session open for a corrected answer.
func checkAnswer(answer []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: unparsable", ErrBadSDP)
		}
	}()
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(string(answer)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	audio := 0
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			audio++
		}
		if err := checkCodecs(m); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
	}
	if audio == 0 {
		return fmt.Errorf("%w: no audio section", ErrBadSDP)
	}
	if err := checkTransport(&desc); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return nil
}

// checkCodecs mirrors pion's reading of a section's payload types and
// header extensions.
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

// checkTransport mirrors pion's choice of ICE credentials, candidates and
// DTLS fingerprint: session level first, else the BUNDLE-tagged section
// (without BUNDLE: the first section).
func checkTransport(desc *sdp.SessionDescription) error {
	ufrag, _ := desc.Attribute("ice-ufrag")
	pwd, _ := desc.Attribute("ice-pwd")
	if m := candidateSection(desc); m != nil {
		if err := checkCandidates(m); err != nil {
			return err
		}
		if u, _ := m.Attribute("ice-ufrag"); ufrag == "" && u != "" {
			ufrag = u
			pwd, _ = m.Attribute("ice-pwd")
		}
	}
	fingerprint := dtlsFingerprint(desc)
	switch {
	case ufrag == "":
		return errors.New("no ICE ufrag")
	case pwd == "":
		return errors.New("no ICE pwd")
	case fingerprint == "":
		return errors.New("no DTLS fingerprint")
	case len(strings.Split(fingerprint, " ")) != 2:
		return fmt.Errorf("DTLS fingerprint %q is not \"hash value\"", fingerprint)
	}
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

// checkCandidates refuses a section whose candidates are all unreadable
// (none at all is fine: the peer is learnt from its ICE checks).
func checkCandidates(m *sdp.MediaDescription) error {
	var bad error
	for _, a := range m.Attributes {
		if !a.IsICECandidate() {
			continue
		}
		if _, err := ice.UnmarshalCandidate(a.Value); err != nil {
			if errors.Is(err, ice.ErrUnknownCandidateTyp) || errors.Is(err, ice.ErrDetermineNetworkType) {
				continue
			}
			bad = fmt.Errorf("candidate %q: %v", a.Value, err)
			continue
		}
		return nil
	}
	return bad
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
