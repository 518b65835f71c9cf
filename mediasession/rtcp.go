package mediasession

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// RTCP as RFC 3550 asks of a participant that only receives: the reader
// keeps each source's reception statistics (Appendix A.1, A.3, A.8) and
// reads the peer's SRTCP (sender reports for LSR/DLSR, BYE to end a
// source's stream); a reporter sends, at the RFC's randomized interval, a
// compound RR + SDES CNAME protected with the session's SRTCP keys, on the
// media port's own socket to the peer's address.

// RTCP packet types (RFC 3550 §12.1).
const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
	rtcpBYE  = 203
)

// RFC 3550 Appendix A.1's bounds on sequence number jumps.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// reception is one source's RFC 3550 reception state. The port's reader
// updates it with each authentic packet; the reporter reads what the
// reader publishes in the atomics, and keeps its own fields for the
// interval figures.
type reception struct {
	// The reader's own.
	started   bool
	transitOK bool // transit holds a packet's: jitter can be updated
	maxSeq    uint16
	cycles    uint32 // sequence number wraps, shifted (RFC 3550 A.1)
	baseSeq   uint32
	badSeq    uint32
	received  uint32
	transit   uint32 // arrival minus RTP timestamp, in RTP clock units
	jitterQ4  uint32 // interarrival jitter ×16 (A.8's integer form)

	// Published by the reader. counts packs the extended highest sequence
	// number (high 32 bits) with the packets received (low 32), so that a
	// report reads both of one moment.
	counts atomic.Uint64
	base   atomic.Uint32 // the extended sequence number counting started at
	jitter atomic.Uint32 // in RTP clock units
	// lastSR packs the middle 32 bits of the NTP time of the source's last
	// sender report (high 32) with when it arrived, in 1/65536 s since the
	// route's epoch (low 32); 0 until one came.
	lastSR atomic.Uint64
	ended  atomic.Bool // the source said BYE

	// The reporter's own (RFC 3550 A.3).
	expectedPrior, receivedPrior uint32
	priorBase                    uint32
}

// update counts one authentic packet (RFC 3550 A.1 without probation: SRTP
// authenticated it) and its effect on the jitter (A.8); arrival is in the
// source's RTP clock units.
//
// hot path: no alloc, no lock.
func (x *reception) update(seq uint16, ts, arrival uint32) {
	if !x.started {
		x.started = true
		x.initSeq(seq)
	} else if !x.updateSeq(seq) {
		return
	}
	x.received++
	transit := arrival - ts
	if x.transitOK {
		d := int32(transit - x.transit)
		if d < 0 {
			d = -d
		}
		x.jitterQ4 += uint32(d) - ((x.jitterQ4 + 8) >> 4)
	}
	x.transit, x.transitOK = transit, true
	x.counts.Store(uint64(x.cycles+uint32(x.maxSeq))<<32 | uint64(x.received))
	x.jitter.Store(x.jitterQ4 >> 4)
}

func (x *reception) initSeq(seq uint16) {
	x.baseSeq = uint32(seq)
	x.maxSeq = seq
	x.badSeq = seqMod + 1
	x.cycles = 0
	x.received = 0
	x.transitOK = false
	x.base.Store(x.baseSeq)
}

// updateSeq is RFC 3550 A.1's update_seq: false for a packet that jumps
// far from the stream, unless it is the second in a row to do so (the
// sender restarted its sequence numbers).
func (x *reception) updateSeq(seq uint16) bool {
	udelta := seq - x.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < x.maxSeq {
			x.cycles += seqMod
		}
		x.maxSeq = seq
	case uint32(udelta) <= seqMod-maxMisorder:
		if uint32(seq) != x.badSeq {
			x.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		x.initSeq(seq)
	default: // duplicate or reordered
	}
	return true
}

// rtcpUnits is d in 1/65536 s, modulo 2^32: DLSR's unit.
func rtcpUnits(d time.Duration) uint32 {
	return uint32((int64(d/time.Microsecond) << 16) / 1e6)
}

// clockUnits is d in units of a clock of rate Hz, modulo 2^32.
func clockUnits(d time.Duration, rate int) uint32 {
	return uint32(int64(d/time.Microsecond) * int64(rate) / 1e6)
}

// receiveRTCP decrypts one SRTCP packet of the peer in place and reads it.
//
// hot path: no alloc.
func (r *route) receiveRTCP(b []byte, arrival time.Time) {
	c := r.counts
	plain, err := r.srtp.DecryptRTCP(b, b, &r.rtcpHeader)
	if err != nil {
		c.refused(err)
		return
	}
	c.rtcp.Add(1)
	r.readRTCP(plain, arrival)
}

// readRTCP walks a compound RTCP packet: a sender report notes its NTP time
// for the next receiver report's LSR, a BYE ends its sources' streams. It
// stops at the first packet that does not parse.
func (r *route) readRTCP(b []byte, arrival time.Time) {
	for len(b) >= 4 && b[0]>>6 == 2 {
		n := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if n > len(b) {
			return
		}
		p, count := b[:n], int(b[0]&0x1f)
		switch p[1] {
		case rtcpSR:
			if n >= 28 {
				if slot := r.tracks[binary.BigEndian.Uint32(p[4:8])]; slot != nil {
					lsr := binary.BigEndian.Uint32(p[10:14])
					slot.rx.lastSR.Store(uint64(lsr)<<32 | uint64(rtcpUnits(arrival.Sub(r.epoch))))
				}
			}
		case rtcpBYE:
			for i := range count {
				if 8+4*i > n {
					break
				}
				r.bye(binary.BigEndian.Uint32(p[4+4*i:]))
			}
		}
		b = b[n:]
	}
}

// bye ends source ssrc's stream: its handler is flushed (off the reader:
// a consumer's Flush may wait for its own consumers), later packets of it
// are dropped, and reports leave it out (RFC 3550 §6.3.7).
func (r *route) bye(ssrc uint32) {
	slot := r.tracks[ssrc]
	if slot == nil || slot.ended {
		return
	}
	slot.ended = true
	slot.rx.ended.Store(true)
	if h := slot.handler; h != nil {
		r.byes.Add(1)
		go func() {
			defer r.byes.Done()
			h.Flush()
		}()
	}
}

// rtcpMinInterval is RFC 3550's minimum RTCP interval (§6.2), half of it
// before the first report.
const rtcpMinInterval = 5 * time.Second

// assumedStreamBandwidth is the session bandwidth each sending source
// stands for in the RTCP interval, in octets per second: 64 kb/s, more than
// an Opus voice stream; RTCP may take 5% of the session's (RFC 3550 §6.2).
// For a bot's few sources the interval is the minimum anyway.
const assumedStreamBandwidth = 64000 / 8

// maxReportBlocks is how many report blocks one RR carries (RC is 5 bits).
const maxReportBlocks = 31

// cnameLen is the length of the random CNAME (RFC 7022 §4.2: 96 bits,
// base64).
const cnameLen = 16

// reporter sends the session's receiver reports.
type reporter struct {
	r        *route
	ctx      *srtp.Context // the bot's own SRTCP keys
	write    func(b []byte, addr netip.AddrPort) (int, error)
	ssrc     uint32
	cname    [cnameLen]byte
	minTime  time.Duration
	plain    []byte // the compound packet being built
	out      []byte // plain, protected
	header   rtcp.Header
	sources  []*trackSlot // reused by build
	reported int          // report blocks in the last report (members - 1)

	mu      sync.Mutex
	peer    netip.AddrPort
	timer   *time.Timer
	stopped bool
	initial bool      // no report sent yet
	tp      time.Time // when the last report went
	avgSize float64   // RFC 3550 §6.3.3's avg_rtcp_size, octets
	sent    int
}

// newReporter prepares the reports of route r: its SSRC must differ from
// the peer's sources.
func newReporter(r *route, ctx *srtp.Context, write func([]byte, netip.AddrPort) (int, error), minTime time.Duration) *reporter {
	rp := &reporter{r: r, ctx: ctx, write: write, minTime: minTime, initial: true}
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		rp.ssrc = binary.BigEndian.Uint32(b[:])
		if _, taken := r.tracks[rp.ssrc]; rp.ssrc != 0 && !taken {
			break
		}
	}
	var id [cnameLen * 3 / 4]byte
	_, _ = rand.Read(id[:])
	base64.StdEncoding.Encode(rp.cname[:], id[:])
	blocks := max(r.maxTracks, len(r.tracks))
	size := rtcpSize(blocks, true)
	rp.plain = make([]byte, 0, size)
	rp.out = make([]byte, 0, size+64) // SRTCP index, tag and MKI
	rp.sources = make([]*trackSlot, 0, blocks)
	rp.avgSize = float64(size + 28) // an estimate before the first (§6.3.2)
	return rp
}

// rtcpSize is the size of a compound packet with blocks report blocks and
// the SDES CNAME, and a BYE when bye.
func rtcpSize(blocks int, bye bool) int {
	rrs := max((blocks+maxReportBlocks-1)/maxReportBlocks, 1)
	n := rrs*8 + blocks*24 + 8 + (2+cnameLen+4)&^3
	if bye {
		n += 8
	}
	return n
}

// start schedules the first report at the initial interval (§6.2: half
// the minimum), from now.
func (rp *reporter) start(peer netip.AddrPort) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.stopped { // the session closed while it came up
		return
	}
	rp.peer = peer
	rp.tp = time.Now()
	rp.timer = time.AfterFunc(rp.interval(), rp.expire)
}

// setPeer sends the next reports to peer (ICE moved the pair).
func (rp *reporter) setPeer(peer netip.AddrPort) {
	rp.mu.Lock()
	rp.peer = peer
	rp.mu.Unlock()
}

// interval is RFC 3550 A.7's rtcp_interval for a participant that never
// sends RTP: members are the bot and the sources it reports on, all of them
// senders, so the receivers' share of the RTCP bandwidth is 75% of it over
// the one receiver... which the minimum dominates for any bot's session.
// It is randomized to 0.5–1.5 times and divided by e−3/2, which the
// reconsideration in expire brings back to a mean of the nominal interval.
func (rp *reporter) interval() time.Duration {
	minTime := rp.minTime
	if rp.initial {
		minTime /= 2
	}
	senders := max(rp.reported, 1)
	members := senders + 1
	bw := 0.05 * float64(senders*assumedStreamBandwidth)
	n := members
	if float64(senders) <= 0.25*float64(members) {
		bw *= 0.75
		n -= senders
	}
	t := time.Duration(rp.avgSize * float64(n) / bw * float64(time.Second))
	t = max(t, minTime)
	return time.Duration(float64(t) * (mrand.Float64() + 0.5) / (2.71828 - 1.5))
}

// expire is the timer (RFC 3550 §6.3.6, with timer reconsideration): a
// report goes when the interval drawn anew since the last one has passed,
// else the timer is set for then.
func (rp *reporter) expire() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.stopped {
		return
	}
	now := time.Now()
	if next := rp.tp.Add(rp.interval()); next.After(now) {
		rp.timer.Reset(next.Sub(now))
		return
	}
	rp.send(now, false)
	rp.tp, rp.initial = now, false
	rp.timer.Reset(rp.interval())
}

// stop ends the reports; with bye, after a last one that says BYE
// (§6.3.7: the bot leaves, and it has sent RTCP).
func (rp *reporter) stop(bye bool) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.stopped {
		return
	}
	rp.stopped = true
	if rp.timer != nil {
		rp.timer.Stop()
	}
	if bye && rp.sent > 0 {
		rp.send(time.Now(), true)
	}
}

// send builds, protects and sends one compound packet. Called with mu.
//
// no alloc.
func (rp *reporter) send(now time.Time, bye bool) {
	plain := rp.build(now, bye)
	out, err := rp.ctx.EncryptRTCP(rp.out[:0], plain, &rp.header)
	if err != nil {
		return
	}
	if _, err := rp.write(out, rp.peer); err != nil {
		return
	}
	rp.sent++
	rp.avgSize += (float64(len(out)+28) - rp.avgSize) / 16 // §6.3.3, with UDP/IPv4 headers
}

// build writes the compound packet: RR (more than one past 31 sources,
// §6.4.2) with a block for each source heard since the last report, the
// SDES CNAME chunk (§6.5.1), and a BYE when bye. The figures are RFC 3550
// A.3's.
//
// no alloc.
func (rp *reporter) build(now time.Time, bye bool) []byte {
	sources := rp.sources[:0]
	if all := rp.r.sources.Load(); all != nil {
		for _, slot := range *all {
			x := &slot.rx
			counts := x.counts.Load()
			received := uint32(counts)
			if x.ended.Load() || received == 0 || (received == x.receivedPrior && x.base.Load() == x.priorBase) {
				continue // never heard, gone, or silent since the last report
			}
			sources = append(sources, slot)
		}
	}
	rp.sources, rp.reported = sources, len(sources)
	b := rp.plain[:0]
	nowUnits := rtcpUnits(now.Sub(rp.r.epoch))
	for first := 0; first < len(sources) || first == 0; first += maxReportBlocks {
		blocks := sources[first:min(first+maxReportBlocks, len(sources))]
		b = rtcpHeaderOf(b, len(blocks), rtcpRR, 1+6*len(blocks))
		b = binary.BigEndian.AppendUint32(b, rp.ssrc)
		for _, slot := range blocks {
			b = appendReportBlock(b, slot, nowUnits)
		}
		if len(sources) == 0 {
			break
		}
	}
	// SDES: one chunk, our SSRC and CNAME, END, padded to 32 bits.
	chunk := 4 + (2+cnameLen+4)&^3
	b = rtcpHeaderOf(b, 1, rtcpSDES, chunk/4)
	b = binary.BigEndian.AppendUint32(b, rp.ssrc)
	b = append(b, 1, cnameLen)
	b = append(b, rp.cname[:]...)
	for pad := chunk - 4 - 2 - cnameLen; pad > 0; pad-- {
		b = append(b, 0)
	}
	if bye {
		b = rtcpHeaderOf(b, 1, rtcpBYE, 1)
		b = binary.BigEndian.AppendUint32(b, rp.ssrc)
	}
	rp.plain = b
	return b
}

// rtcpHeaderOf appends a common RTCP header: version 2, no padding, count,
// type, and the length in 32-bit words minus one (words after the header).
func rtcpHeaderOf(b []byte, count int, typ uint8, words int) []byte {
	return append(b, 2<<6|uint8(count), typ, uint8(words>>8), uint8(words))
}

// appendReportBlock appends the report block of one source (RFC 3550
// §6.4.1, figures as in A.3) and moves its interval on.
func appendReportBlock(b []byte, slot *trackSlot, nowUnits uint32) []byte {
	x := &slot.rx
	counts := x.counts.Load()
	extMax, received := uint32(counts>>32), uint32(counts)
	base := x.base.Load()
	if base != x.priorBase { // the source restarted: a new count
		x.expectedPrior, x.receivedPrior, x.priorBase = 0, 0, base
	}
	expected := extMax - base + 1
	lost := int64(expected) - int64(received)
	lost = min(max(lost, -0x800000), 0x7fffff) // 24-bit signed
	expectedInterval := expected - x.expectedPrior
	lostInterval := int64(expectedInterval) - int64(received-x.receivedPrior)
	var fraction uint8
	if expectedInterval != 0 && lostInterval > 0 {
		fraction = uint8((lostInterval << 8) / int64(expectedInterval))
	}
	x.expectedPrior, x.receivedPrior = expected, received
	var lsr, dlsr uint32
	if sr := x.lastSR.Load(); sr != 0 {
		lsr, dlsr = uint32(sr>>32), nowUnits-uint32(sr)
	}
	b = binary.BigEndian.AppendUint32(b, slot.ssrc)
	b = binary.BigEndian.AppendUint32(b, uint32(fraction)<<24|uint32(lost)&0xffffff)
	b = binary.BigEndian.AppendUint32(b, extMax)
	b = binary.BigEndian.AppendUint32(b, x.jitter.Load())
	b = binary.BigEndian.AppendUint32(b, lsr)
	return binary.BigEndian.AppendUint32(b, dlsr)
}
