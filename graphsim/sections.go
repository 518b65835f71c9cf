package graphsim

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// sectionCodecs is the codec of each audio section graphsim sends on: one
// section per participant when they fit. When there are more participants
// than sections, Teams sends only the loudest few unmixed: every section
// carries Opus, the talking participants rotate through them, and each
// packet names its speaker's sourceId as CSRC.
func (c *simCall) sectionCodecs(sections int) ([]sendCodec, error) {
	parts := c.sc.Participants
	if len(parts) <= sections {
		codecs := make([]sendCodec, len(parts))
		for i := range parts {
			codecs[i] = parts[i].codec()
		}
		return codecs, nil
	}
	c.rotating = true
	for _, p := range parts {
		if p.Phone != "" {
			return nil, fmt.Errorf("graphsim: %d participants rotate through %d Opus sections; a phone participant (G.711) cannot", len(parts), sections)
		}
	}
	codecs := make([]sendCodec, sections)
	for i := range codecs {
		codecs[i] = opusSend
	}
	return codecs, nil
}

// ownSections sends each participant on a section of its own.
type ownSections struct {
	pkt      rtp.Packet
	ext      [1]rtp.Extension // pkt's header extension, reused
	rotation *rotation
}

// tick sends frame n of every participant talking at elapsed, and silence
// for those not talking who send it (SilenceBetween).
//
// hot path: each packet is built without allocating (payloads and levels
// are precomputed, the header extension reuses o.ext).
func (o *ownSections) tick(c *simCall, n int, elapsed time.Duration, sending []media, peer *mediaPeer, res *CallResult) {
	for i := range sending {
		p, m := &c.sc.Participants[i], &sending[i]
		k := n - int(p.JoinAt/frameDur)
		if k < 0 || k >= len(m.payloads) {
			continue
		}
		var payload, level []byte
		switch {
		case p.talking(elapsed):
			payload, level = m.payloads[k], m.levels[k:k+1]
		case m.silence != nil && p.present(elapsed):
			payload, level = m.silence, silentLevel
		}
		if payload != nil {
			o.pkt.Header = rtp.Header{Version: 2, SequenceNumber: m.seq, Timestamp: m.ts, Marker: !m.sent}
			setLevel(&o.pkt.Header, &o.ext, m.levelID, level)
			o.pkt.Payload = payload
			if err := peer.send(i, &o.pkt); err == nil {
				res.PacketsSent[p.ID]++
			}
			m.seq++
		}
		m.sent = payload != nil
		m.ts += m.tsStep
	}
}

// setLevel puts level, one RFC 6464 byte, on h as header extension id in
// the one-byte form (RFC 8285), in ext's room: no allocation. id 0 puts
// nothing.
func setLevel(h *rtp.Header, ext *[1]rtp.Extension, id uint8, level []byte) {
	if id == 0 {
		return
	}
	h.Extension, h.ExtensionProfile, h.Extensions = true, rtp.ExtensionProfileOneByte, ext[:0]
	_ = h.SetExtension(id, level) // id 1..14 and one byte: cannot fail
}

// rotation puts the talking participants on the sections: a speaker keeps
// its section while it talks, a new speaker takes a free one, and speakers
// beyond the sections are not sent (they are not among the loudest). A
// speaker with AudioLevels has its levels on its packets at the id of the
// section it is on; nobody's silence is sent (SilenceBetween is ignored).
type rotation struct {
	speaker []int  // per section: the participant on it, -1 for none
	fresh   []bool // per section: its speaker starts now (marker bit)
	seq     []uint16
	ts      []uint32
	pkt     rtp.Packet
	csrc    [1]uint32
	ext     [1]rtp.Extension // pkt's header extension, reused
}

func newRotation(sections int) *rotation {
	r := &rotation{speaker: make([]int, sections), fresh: make([]bool, sections),
		seq: make([]uint16, sections), ts: make([]uint32, sections)}
	for i := range r.speaker {
		r.speaker[i] = -1
	}
	return r
}

func (r *rotation) tick(c *simCall, n int, elapsed time.Duration, sending []media, peer *mediaPeer, res *CallResult) {
	parts := c.sc.Participants
	talking := func(i int) bool {
		k := n - int(parts[i].JoinAt/frameDur)
		return k >= 0 && k < len(sending[i].payloads) && parts[i].talking(elapsed)
	}
	onSection := map[int]bool{}
	for s, i := range r.speaker { // speakers who stopped free their section
		if i >= 0 && !talking(i) {
			r.speaker[s] = -1
		} else if i >= 0 {
			onSection[i] = true
		}
	}
	for i := range parts { // new speakers take free sections, in order
		if !talking(i) || onSection[i] {
			continue
		}
		for s := range r.speaker {
			if r.speaker[s] < 0 {
				r.speaker[s], r.fresh[s], onSection[i] = i, true, true
				break
			}
		}
	}
	for s, i := range r.speaker {
		if i >= 0 {
			r.csrc[0] = res.SSRCs[parts[i].ID]
			k := n - int(parts[i].JoinAt/frameDur)
			r.pkt.Header = rtp.Header{Version: 2, SequenceNumber: r.seq[s], Timestamp: r.ts[s], CSRC: r.csrc[:], Marker: r.fresh[s]}
			if parts[i].AudioLevels {
				setLevel(&r.pkt.Header, &r.ext, peer.levelIDs[s], sending[i].levels[k:k+1])
			}
			r.fresh[s] = false
			r.pkt.Payload = sending[i].payloads[k]
			if err := peer.send(s, &r.pkt); err == nil {
				res.PacketsSent[parts[i].ID]++
			}
			r.seq[s]++
		}
		r.ts[s] += opusFrame
	}
}
