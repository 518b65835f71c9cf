package mediasession

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// route is one connected session's receive side: the SRTP context of the
// peer's keys and the session's tracks. The reader goroutine of the port the
// peer sends to owns it; the session touches it only before it is published
// to the port and after close has waited the reader out. So the hot path
// takes no lock.
type route struct {
	srtp    *srtp.Context // set once DTLS is up, before the route is published
	header  rtp.Header
	codecs  map[uint8]offeredCodec
	onTrack func(*Track) PacketHandler
	counts  *portCounters
	// tracks maps an SSRC to its track; the reader adds sources the answer
	// did not declare, up to maxTracks.
	tracks    map[uint32]*trackSlot
	maxTracks int
	// levelIDs and levelID give each track its AudioLevelID: the id of its
	// declared SSRC's section, else the one all sections agree on.
	levelIDs map[uint32]uint8
	levelID  uint8

	// sources lists the slots of tracks for the reporter, which may not
	// read the map; the reader replaces it (copy on write) when it adds one.
	sources atomic.Pointer[[]*trackSlot]
	// epoch is the origin of the arrival clocks of reception statistics.
	epoch      time.Time
	rtcpHeader rtcp.Header
	// byes counts the flushes of streams ended by the peer's BYE that
	// still run; close waits for them.
	byes sync.WaitGroup

	busy    atomic.Bool // the reader is inside receive
	closing atomic.Bool
	// early holds SRTP that reached the session's DTLS side before the route
	// was published (the peer's first packets may overtake the end of our
	// handshake); the reader plays it first.
	early atomic.Pointer[[]earlyPacket]
}

// trackSlot is one source of a route: its track once its first packet
// came, and its reception statistics.
type trackSlot struct {
	ssrc    uint32
	handler PacketHandler
	ignored bool // the consumer did not take it
	ended   bool // the peer said BYE for it: its stream is over
	rx      reception
}

type earlyPacket struct {
	b  []byte
	at time.Time
}

// maxEarlyPackets bounds the SRTP kept while the route comes up: 64 packets
// is over a second of one stream, far more than a handshake takes.
const maxEarlyPackets = 64

func newRoute(ctx *srtp.Context, declared []uint32, maxTracks int, onTrack func(*Track) PacketHandler, counts *portCounters) *route {
	r := &route{
		srtp:      ctx,
		codecs:    offeredCodecs,
		onTrack:   onTrack,
		counts:    counts,
		tracks:    make(map[uint32]*trackSlot, len(declared)),
		maxTracks: max(maxTracks, len(declared)),
		epoch:     time.Now(),
	}
	for _, ssrc := range declared {
		r.addSlot(ssrc)
	}
	return r
}

// addSlot adds source ssrc, for the reader and the reporter.
func (r *route) addSlot(ssrc uint32) *trackSlot {
	slot := &trackSlot{ssrc: ssrc}
	r.tracks[ssrc] = slot
	var sources []*trackSlot
	if old := r.sources.Load(); old != nil {
		sources = append(make([]*trackSlot, 0, len(*old)+1), *old...)
	}
	sources = append(sources, slot)
	r.sources.Store(&sources)
	return slot
}

// receive takes one SRTP or SRTCP packet of the peer, on the port's reader
// goroutine. b is decrypted in place.
//
// hot path: no alloc, no lock.
func (r *route) receive(b []byte, arrival time.Time) {
	r.busy.Store(true)
	defer r.busy.Store(false)
	if r.closing.Load() {
		return
	}
	if r.early.Load() != nil {
		r.playEarly()
	}
	r.deliver(b, arrival)
}

// playEarly delivers the packets that came before the route was up.
func (r *route) playEarly() {
	if e := r.early.Swap(nil); e != nil {
		for _, p := range *e {
			r.deliver(p.b, p.at)
		}
	}
}

// deliver decrypts one packet and hands it to its track.
//
// hot path: no alloc.
func (r *route) deliver(b []byte, arrival time.Time) {
	c := r.counts
	if isRTCP(b) {
		r.receiveRTCP(b, arrival)
		return
	}
	slot := r.tracks[binary.BigEndian.Uint32(b[8:12])]
	if (slot == nil && len(r.tracks) >= r.maxTracks) || (slot != nil && (slot.ignored || slot.ended)) {
		c.unknownSSRC.Add(1) // checked before decrypting: no SRTP state for it
		return
	}
	plain, err := r.srtp.DecryptRTP(b, b, &r.header)
	if err != nil {
		c.refused(err)
		return
	}
	if slot == nil {
		slot = r.addSlot(r.header.SSRC)
	}
	if codec, ok := r.codecs[r.header.PayloadType]; ok {
		slot.rx.update(r.header.SequenceNumber, r.header.Timestamp, clockUnits(arrival.Sub(r.epoch), codec.clockRate))
	}
	if slot.handler == nil && !r.start(slot) {
		c.unknownSSRC.Add(1)
		return
	}
	c.srtp.Add(1)
	slot.handler.Push(plain, arrival)
}

// start makes the track of slot from the packet in r.header.
func (r *route) start(slot *trackSlot) bool {
	codec, ok := r.codecs[r.header.PayloadType]
	if !ok {
		return false // no track yet: a later packet in an offered codec starts it
	}
	h := r.onTrack(&Track{
		SSRC:         r.header.SSRC,
		MimeType:     codec.mimeType,
		ClockRate:    codec.clockRate,
		Channels:     codec.channels,
		PayloadType:  r.header.PayloadType,
		AudioLevelID: r.audioLevelID(r.header.SSRC),
	})
	if h == nil {
		slot.ignored = true
		return false
	}
	slot.handler = h
	return true
}

// audioLevelID is the audio level extension id of source ssrc.
func (r *route) audioLevelID(ssrc uint32) uint8 {
	if id, ok := r.levelIDs[ssrc]; ok {
		return id
	}
	return r.levelID
}

// addEarly keeps a copy of b for the reader to play first.
func (r *route) addEarly(b []byte, at time.Time) {
	p := earlyPacket{b: append([]byte(nil), b...), at: at}
	for {
		old := r.early.Load()
		var next []earlyPacket
		if old != nil {
			if len(*old) >= maxEarlyPackets {
				return
			}
			next = append(next, *old...)
		}
		next = append(next, p)
		if r.early.CompareAndSwap(old, &next) {
			return
		}
	}
}

// close ends delivery and then every track, once (a track a BYE ended was
// flushed then: close waits for that). The route must already be off its
// port: after the reader has left receive, nothing else can enter.
func (r *route) close() {
	if r.closing.Swap(true) {
		return
	}
	for r.busy.Load() {
		time.Sleep(20 * time.Microsecond)
	}
	if r.srtp != nil && r.early.Load() != nil {
		r.playEarly()
	}
	for _, slot := range r.tracks {
		if slot.handler != nil && !slot.ended {
			slot.handler.Flush()
		}
	}
	r.byes.Wait()
}

// isRTCP tells SRTCP from SRTP on a muxed port (RFC 5761 §4: RTCP packet
// types 192–223 where RTP has marker and payload type).
func isRTCP(b []byte) bool {
	return b[1] >= 192 && b[1] <= 223
}

// refused counts a packet SRTP would not decrypt: a replay, or a failed
// authentication.
func (c *portCounters) refused(err error) {
	if isReplay(err) {
		c.replayed.Add(1)
	} else {
		c.undecryptable.Add(1)
	}
}

// isReplay tells pion's replay refusal from a failed authentication. pion
// exports no value for it, so its wrapped sentinel is known by its text
// (TestRouteCountsAndDropsWhatItCannotTrust notices if that changes).
func isReplay(err error) bool {
	inner := errors.Unwrap(err)
	return inner != nil && inner.Error() == "duplicated packet"
}
