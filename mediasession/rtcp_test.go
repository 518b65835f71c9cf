package mediasession

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// block is the report block the reporter writes for slot, read back.
func block(t *testing.T, slot *trackSlot, now uint32) rtcp.ReceptionReport {
	t.Helper()
	b := appendReportBlock(nil, slot, now)
	var rr rtcp.ReceiverReport
	raw := append(rtcpHeaderOf(nil, 1, rtcpRR, 7), 0, 0, 0, 9)
	if err := rr.Unmarshal(append(raw, b...)); err != nil {
		t.Fatal(err)
	}
	return rr.Reports[0]
}

// The report figures are RFC 3550 A.3's: cumulative loss since the first
// packet, the fraction lost since the last report, the extended highest
// sequence number across a wrap, and a restart after two packets in a row
// far from the stream.
func TestReceptionStatisticsFollowRFC3550(t *testing.T) {
	slot := &trackSlot{ssrc: 5}
	x := &slot.rx
	seq := uint16(65500)
	send := func(n int, skip ...int) {
		for i := range n {
			if !slices.Contains(skip, i) {
				x.update(seq, uint32(seq)*960, uint32(seq)*960) // no jitter
			}
			seq++
		}
	}
	send(100, 10, 11, 50, 99) // 65500..65599 (wrapping at 65536), 4 lost; the last one lost is not yet known as lost
	b := block(t, slot, 0)
	if b.SSRC != 5 || b.LastSequenceNumber != 1<<16+62 || b.TotalLost != 3 || b.FractionLost != 3*256/99 || b.Jitter != 0 {
		t.Errorf("first report %+v, want ext. highest %d (one wrap, then 62), 3 lost, fraction %d", b, 1<<16+62, 3*256/99)
	}
	send(100) // 100 more, none lost: the one missing before is still missing
	b = block(t, slot, 0)
	if b.TotalLost != 4 || b.FractionLost != 1*256/101 {
		t.Errorf("second report %+v, want 4 lost in all, fraction %d", b, 1*256/101)
	}
	if b = block(t, slot, 0); b.FractionLost != 0 {
		t.Errorf("report with nothing new: fraction %d, want 0", b.FractionLost)
	}
	// A far jump is ignored once, and taken as a restart when the next
	// packet follows it.
	seq += 20000
	send(1)
	if got := uint32(x.counts.Load()); got != 196 {
		t.Errorf("%d received after one stray packet, want 196 as before", got)
	}
	send(5)
	b = block(t, slot, 0)
	if b.TotalLost != 0 || b.LastSequenceNumber != uint32(seq-1) || b.FractionLost != 0 {
		t.Errorf("after the restart %+v, want a new count from the restart (5 received, none lost)", b)
	}
	// Duplicates counted as received make the loss negative (A.3); the
	// 24-bit field carries it signed.
	x.update(seq-1, 0, 0)
	x.update(seq-1, 0, 0)
	if b = block(t, slot, 0); b.TotalLost != 0xfffffe {
		t.Errorf("cumulative lost %#x with two duplicates, want -2 (0xfffffe)", b.TotalLost)
	}
}

// Interarrival jitter is RFC 3550 A.8's: packets 20 ms apart in RTP time
// arriving alternately 10 ms early and late have a jitter that tends to 20
// ms; DLSR is the time since the last sender report, in 1/65536 s.
func TestJitterAndDelaySinceLastSR(t *testing.T) {
	slot := &trackSlot{ssrc: 5}
	x := &slot.rx
	for i := range 400 {
		arrival := uint32(i*960) + 100000
		if i%2 == 1 {
			arrival += 960 // 20 ms at 48 kHz: ±10 ms around the mean
		}
		x.update(uint16(i), uint32(i*960), arrival)
	}
	if b := block(t, slot, 0); b.Jitter < 930 || b.Jitter > 960 {
		t.Errorf("jitter %d, want about 960 (20 ms at 48 kHz)", b.Jitter)
	}
	r := &route{tracks: map[uint32]*trackSlot{5: slot}, epoch: time.Now()}
	r.readRTCP(mustMarshal(t, &rtcp.SenderReport{SSRC: 5, NTPTime: 0x1122334455667788}), r.epoch.Add(time.Second))
	b := block(t, slot, rtcpUnits(1500*time.Millisecond))
	if b.LastSenderReport != 0x33445566 || b.Delay != 1<<15 {
		t.Errorf("LSR %#x DLSR %d, want 0x33445566 and half a second (32768)", b.LastSenderReport, b.Delay)
	}
}

func mustMarshal(t *testing.T, packets ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(packets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flushCounter is a handler whose Flush may be called on any goroutine.
type flushCounter struct {
	pushed, flushed atomic.Int32
}

func (f *flushCounter) Push([]byte, time.Time) { f.pushed.Add(1) }
func (f *flushCounter) Flush()                 { f.flushed.Add(1) }

// An RTCP BYE from the peer ends the stream of each source it names: the
// handler is flushed once (the stream's stats go out then), later packets
// of the source are dropped, and close does not flush it again. The other
// sources go on.
func TestByeEndsTheSourcesStream(t *testing.T) {
	r, _, counts := newTestRoute(t, []uint32{1, 2}, 2)
	handlers := map[uint32]*flushCounter{1: {}, 2: {}}
	r.onTrack = func(tr *Track) PacketHandler { return handlers[tr.SSRC] }
	p := newPeer(t)
	for range 3 {
		r.receive(p.packet(1, 111, []byte{1}), time.Now())
		r.receive(p.packet(2, 111, []byte{2}), time.Now())
	}
	r.receive(p.rtcp(&rtcp.ReceiverReport{SSRC: 1}, &rtcp.Goodbye{Sources: []uint32{1, 77}}), time.Now())
	if !eventually(2*time.Second, func() bool { return handlers[1].flushed.Load() == 1 }) {
		t.Fatal("the stream of the source that said BYE was not flushed")
	}
	r.receive(p.packet(1, 111, []byte{1}), time.Now())
	r.receive(p.packet(2, 111, []byte{2}), time.Now())
	if h := handlers[1]; h.pushed.Load() != 3 {
		t.Errorf("%d packets after BYE delivered", h.pushed.Load()-3)
	}
	if h := handlers[2]; h.pushed.Load() != 4 || h.flushed.Load() != 0 {
		t.Errorf("the other source: %d packets, %d flushes; want 4 and none", h.pushed.Load(), h.flushed.Load())
	}
	if s := stats(counts); s.RTCP != 1 || s.UnknownSSRC != 1 {
		t.Errorf("counters %+v, want 1 RTCP and the packet after BYE unknown", s)
	}
	if rs := r.sources.Load(); rs == nil || len(*rs) != 2 {
		t.Fatal("sources not listed")
	}
	r.close()
	if handlers[1].flushed.Load() != 1 || handlers[2].flushed.Load() != 1 {
		t.Errorf("flushes after close: %d and %d, want 1 each", handlers[1].flushed.Load(), handlers[2].flushed.Load())
	}
}

// newTestReporter is a reporter of route r that protects with the test
// keys and writes to conn.
func newTestReporter(t testing.TB, r *route, write func([]byte, netip.AddrPort) (int, error)) *reporter {
	ctx, err := srtp.CreateContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	return newReporter(r, ctx, write, rtcpMinInterval)
}

// readReport decrypts and parses one compound packet the reporter sent.
func readReport(t *testing.T, b []byte) []rtcp.Packet {
	t.Helper()
	ctx, err := srtp.CreateContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ctx.DecryptRTCP(nil, b, nil)
	if err != nil {
		t.Fatalf("the report does not decrypt with the session's keys: %v", err)
	}
	packets, err := rtcp.Unmarshal(plain)
	if err != nil {
		t.Fatalf("the report does not parse: %v", err)
	}
	return packets
}

// A report is a compound packet RR + SDES CNAME (RFC 3550 §6.1), SRTCP
// protected, with a block for each source heard since the last report;
// more than 31 sources take a second RR; close adds a BYE.
func TestReportIsACompoundRRAndSDES(t *testing.T) {
	declared := make([]uint32, 40)
	for i := range declared {
		declared[i] = uint32(1000 + i)
	}
	r, _, _ := newTestRoute(t, declared, 40)
	r.onTrack = takeAndDrop
	p := newPeer(t)
	for _, ssrc := range declared {
		r.receive(p.packet(ssrc, 111, []byte{1}), time.Now())
	}
	var sent [][]byte
	rp := newTestReporter(t, r, func(b []byte, _ netip.AddrPort) (int, error) {
		sent = append(sent, bytes.Clone(b))
		return len(b), nil
	})
	rp.send(time.Now(), false)
	packets := readReport(t, sent[0])
	if len(packets) != 3 {
		t.Fatalf("%d packets %T, want RR, RR, SDES", len(packets), packets)
	}
	rr1, ok1 := packets[0].(*rtcp.ReceiverReport)
	rr2, ok2 := packets[1].(*rtcp.ReceiverReport)
	sdes, ok3 := packets[2].(*rtcp.SourceDescription)
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("packets %T %T %T, want RR RR SDES", packets[0], packets[1], packets[2])
	}
	if len(rr1.Reports)+len(rr2.Reports) != 40 || len(rr1.Reports) != 31 || rr1.SSRC != rp.ssrc || rr2.SSRC != rp.ssrc {
		t.Errorf("%d + %d blocks from %d/%d, want 31 + 9 from the bot's SSRC %d", len(rr1.Reports), len(rr2.Reports), rr1.SSRC, rr2.SSRC, rp.ssrc)
	}
	if c := sdes.Chunks; len(c) != 1 || c[0].Source != rp.ssrc || len(c[0].Items) != 1 || c[0].Items[0].Type != rtcp.SDESCNAME || len(c[0].Items[0].Text) != cnameLen {
		t.Errorf("SDES %+v, want one chunk: the bot's SSRC and a %d-character CNAME", sdes, cnameLen)
	}
	// Nothing heard since: an RR without blocks, still with its CNAME.
	rp.send(time.Now(), false)
	packets = readReport(t, sent[1])
	if rr, ok := packets[0].(*rtcp.ReceiverReport); !ok || len(rr.Reports) != 0 || len(packets) != 2 {
		t.Errorf("report after silence: %+v, want an empty RR and SDES", packets)
	}
	rp.stop(true)
	packets = readReport(t, sent[2])
	if bye, ok := packets[len(packets)-1].(*rtcp.Goodbye); !ok || !slices.Equal(bye.Sources, []uint32{rp.ssrc}) {
		t.Errorf("last report %+v, want it to end in a BYE of the bot's SSRC", packets)
	}
}

// A report is built, protected and sent on a UDP socket without
// allocating.
func TestReportDoesNotAllocate(t *testing.T) {
	r, _, _ := newTestRoute(t, []uint32{1, 2, 3, 4}, 4)
	r.onTrack = takeAndDrop
	p := newPeer(t)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	rp := newTestReporter(t, r, conn.WriteToUDPAddrPort)
	rp.peer = sink.LocalAddr().(*net.UDPAddr).AddrPort()
	r.receive(p.packet(1, 111, []byte{1}), time.Now())
	rp.send(time.Now(), false) // the first report makes the SRTCP state of the bot's SSRC
	for _, ssrc := range []uint32{1, 2, 3, 4} {
		r.receive(p.packet(ssrc, 111, []byte{1}), time.Now())
	}
	before := rp.sent
	slots := *r.sources.Load()
	allocs := testing.AllocsPerRun(100, func() {
		for _, slot := range slots {
			slot.rx.receivedPrior = 0 // as if each source had sent since the last report
		}
		rp.send(time.Now(), false)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per report, want 0", allocs)
	}
	if rp.sent-before < 100 {
		t.Errorf("%d reports sent", rp.sent-before)
	}
	buf := make([]byte, 1500)
	_ = sink.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := sink.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if rr, ok := readReport(t, buf[:n])[0].(*rtcp.ReceiverReport); !ok || len(rr.Reports) != 1 {
		t.Errorf("first report on the wire %+v, want an RR with one block", rr)
	}
	for range 100 {
		n, _, err = sink.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
	}
	if rr, ok := readReport(t, buf[:n])[0].(*rtcp.ReceiverReport); !ok || len(rr.Reports) != 4 {
		t.Errorf("a measured report on the wire %+v, want an RR with four blocks", rr)
	}
}

// The interval is RFC 3550's: the minimum (half of it before the first
// report) times 0.5–1.5, over e−3/2.
func TestReportIntervalIsRFC3550s(t *testing.T) {
	rp := &reporter{minTime: rtcpMinInterval, initial: true, avgSize: 100}
	minTime := float64(rtcpMinInterval)
	lo, hi := time.Duration(minTime*0.5/1.21828), time.Duration(minTime*1.5/1.21828)
	var sum time.Duration
	for i := range 2000 {
		rp.initial = i < 1000
		d := rp.interval()
		scale := time.Duration(1)
		if rp.initial {
			scale = 2
		}
		if d < lo/scale-time.Millisecond || d > hi/scale+time.Millisecond {
			t.Fatalf("interval %v (initial %v), want %v..%v", d, rp.initial, lo/scale, hi/scale)
		}
		if !rp.initial {
			sum += d
		}
	}
	if mean := sum / 1000; mean < 3900*time.Millisecond || mean > 4300*time.Millisecond {
		t.Errorf("mean drawn interval %v, want about 5 s / 1.218 = 4.1 s (reconsideration brings the sent mean to 5 s)", mean)
	}
}

// rtcpTap records the RTCP a pion peer's sender reads.
type rtcpTap struct {
	interceptor.NoOp
	mu  sync.Mutex
	got []tapped
}

type tapped struct {
	at      time.Time
	packets []rtcp.Packet
}

func (tap *rtcpTap) NewInterceptor(string) (interceptor.Interceptor, error) { return tap, nil }

func (tap *rtcpTap) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err == nil {
			if packets, perr := rtcp.Unmarshal(b[:n]); perr == nil {
				tap.mu.Lock()
				tap.got = append(tap.got, tapped{at: time.Now(), packets: packets})
				tap.mu.Unlock()
			}
		}
		return n, attr, err
	})
}

func (tap *rtcpTap) reports() []tapped {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return slices.Clone(tap.got)
}

// The bot's receiver reports reach a real WebRTC peer (pion) as its RTCP
// for its sender: decrypted with the session's keys, a compound RR + SDES,
// with the loss, the extended highest sequence number, jitter, and LSR/DLSR
// answering the peer's sender report; at RFC 3550's randomized interval
// (here with a 1 s minimum).
func TestReceiverReportsReachThePeer(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	e.rtcpMinInterval = time.Second
	s := newTestSession(t, e, SessionConfig{OnTrack: takeAndDrop, ConnectTimeout: 10 * time.Second})
	tap := &rtcpTap{}
	reg := &interceptor.Registry{}
	reg.Add(tap)
	peer := answerOfferWith(t, s.Blob().Offer, 1, false, reg)
	go func() { // the sender's RTCP is read only while someone reads it
		buf := make([]byte, 1500)
		for {
			if _, _, err := peer.senders[0].Read(buf); err != nil {
				return
			}
		}
	}()
	if err := s.Answer(s.Blob().Token, []byte(peer.answer)); err != nil {
		t.Fatal(err)
	}
	peer.waitConnected(t, 10*time.Second)
	ssrc := peer.ssrcs[0]

	lost := []int{10, 11, 50}
	const ntp = uint64(0xe1a2b3c4d5e6f708)
	var srAt time.Time
	start := time.Now()
	seq := 0
	for time.Since(start) < 4500*time.Millisecond {
		if !slices.Contains(lost, seq) {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(seq), Timestamp: uint32(seq * 960)}, Payload: []byte{0xf8, 0xff, 0xfe}}
			if err := peer.tracks[0].WriteRTP(pkt); err != nil {
				t.Fatal(err)
			}
		}
		if seq == 60 {
			srAt = time.Now()
			if err := peer.pc.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: 60 * 960, PacketCount: 58, OctetCount: 58 * 3}}); err != nil {
				t.Fatal(err)
			}
		}
		seq++
		time.Sleep(20 * time.Millisecond)
	}
	closedAt := time.Now()
	_ = s.Close() // a last report, with BYE, may follow
	time.Sleep(200 * time.Millisecond)

	var at []time.Time
	for _, rep := range tap.reports() {
		rr, ok := rep.packets[0].(*rtcp.ReceiverReport)
		if !ok {
			t.Fatalf("compound packet starts with %T, want an RR (RFC 3550 §6.1)", rep.packets[0])
		}
		// pion parsed the whole compound (rtcp.Unmarshal refuses it all
		// if one packet is malformed) but hands its sender only the RR;
		// TestReportIsACompoundRRAndSDES reads the SDES and the BYE.
		if len(rr.Reports) != 1 || rr.Reports[0].SSRC != ssrc {
			t.Fatalf("report blocks %+v, want one, of the peer's SSRC %d", rr.Reports, ssrc)
		}
		b := rr.Reports[0]
		t.Logf("RR at +%v: lost %d (fraction %d/256), ext. highest seq %d, jitter %d (1/48000 s), LSR %#x, DLSR %.3f s",
			rep.at.Sub(start).Round(time.Millisecond), b.TotalLost, b.FractionLost, b.LastSequenceNumber, b.Jitter, b.LastSenderReport, float64(b.Delay)/65536)
		if b.TotalLost != uint32(len(lost)) && b.LastSequenceNumber > 50 {
			t.Errorf("cumulative lost %d, want %d", b.TotalLost, len(lost))
		}
		if b.Jitter > 48000/2 { // the sender's own sleeps vary: a loaded machine sees tens of ms
			t.Errorf("jitter %d units: over 500 ms on loopback", b.Jitter)
		}
		if rep.at.After(srAt.Add(100*time.Millisecond)) && !srAt.IsZero() {
			if b.LastSenderReport != uint32(ntp>>16&0xffffffff) {
				t.Errorf("LSR %#x, want the middle of the SR's NTP time %#x", b.LastSenderReport, uint32(ntp>>16&0xffffffff))
			}
			want := rep.at.Sub(srAt).Seconds()
			if got := float64(b.Delay) / 65536; got < want-0.1 || got > want+0.05 {
				t.Errorf("DLSR %.3f s, want about %.3f s since the SR", got, want)
			}
		}
		if rep.at.Before(closedAt) {
			at = append(at, rep.at)
		}
	}
	if len(at) < 3 {
		t.Fatalf("%d reports in 4.5 s with a 1 s minimum interval, want at least 3", len(at))
	}
	// 0.41–1.23 s when sent (1 s × 0.5–1.5 / 1.218, TestReportInterval…);
	// read by the peer with its own delays.
	for i := 1; i < len(at); i++ {
		d := at[i].Sub(at[i-1])
		t.Logf("interval %v", d.Round(time.Millisecond))
		if d < 300*time.Millisecond || d > 1700*time.Millisecond {
			t.Errorf("interval %v between reports, want about 0.41–1.23 s", d)
		}
	}
}
