package mediasession

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// testPort is a media port on loopback address ip, with no mux reading it.
func testPort(t *testing.T, ip string) *mediaPort {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("no UDP on %s: %v", ip, err)
	}
	p, err := newMediaPort(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *mediaPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, p.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// stun is a datagram that demultiplexes as STUN (first byte 0), numbered.
func stun(n int) []byte { return []byte{0, 1, 0, 0, byte(n), byte(n >> 8)} }

// readReturned reads what the port hands back to the mux, n datagrams.
func readReturned(t *testing.T, p *mediaPort, n int) (got [][]byte, from []netip.AddrPort) {
	t.Helper()
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for range n {
		k, addr, err := p.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got, from = append(got, bytes.Clone(buf[:k])), append(from, addr)
	}
	return got, from
}

func TestMediaPortDeliversConnectedSRTPAndHandsBackTheRestInOrder(t *testing.T) {
	p := testPort(t, "127.0.0.1")
	connected, stranger := dial(t, p), dial(t, p)
	ctx, err := receiveContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{payloads: map[uint32][][]byte{}, flushed: map[uint32]int{}}
	p.addRoute(connected.LocalAddr().(*net.UDPAddr).AddrPort(), newRoute(ctx, []uint32{7}, 1, rec.onTrack, &p.counters))
	peer := newPeer(t)

	// More than a batch, queued before the first read: the reader takes
	// them several at a time.
	const rounds = 3 * batchSize / 2
	strangerSRTP := peer.packet(9, 111, []byte{9}) // looks like SRTP, but no route: the mux's
	for i := range rounds {
		send(t, connected, peer.packet(7, 111, []byte{byte(i)}))
		send(t, connected, stun(i))
		send(t, stranger, strangerSRTP)
	}
	got, from := readReturned(t, p, 2*rounds)

	next := 0
	for i, b := range got {
		switch from[i] {
		case connected.LocalAddr().(*net.UDPAddr).AddrPort():
			if !bytes.Equal(b, stun(next)) {
				t.Fatalf("connected peer's datagram %d handed back as %x, want %x", next, b, stun(next))
			}
			next++
		case stranger.LocalAddr().(*net.UDPAddr).AddrPort():
			if !bytes.Equal(b, strangerSRTP) {
				t.Fatalf("stranger's datagram handed back as %x", b)
			}
		default:
			t.Fatalf("datagram from %v, which sent nothing", from[i])
		}
	}
	if next != rounds {
		t.Errorf("%d of the connected peer's STUN datagrams handed back, want %d", next, rounds)
	}
	if n := len(rec.payloads[7]); n != rounds {
		t.Fatalf("%d SRTP packets delivered, want %d", n, rounds)
	}
	for i, pl := range rec.payloads[7] {
		if !bytes.Equal(pl, []byte{byte(i)}) {
			t.Fatalf("packet %d delivered as %x: out of order or not decrypted", i, pl)
		}
	}
	if s := stats(&p.counters); s != (PortStats{SRTP: rounds}) {
		t.Errorf("counters %+v, want %d delivered", s, rounds)
	}
}

func TestMediaPortDropsAndCountsOversizeDatagrams(t *testing.T) {
	p := testPort(t, "127.0.0.1")
	c := dial(t, p)
	send(t, c, bytes.Repeat([]byte{0x80}, slotBytes+1))
	send(t, c, stun(1))
	got, _ := readReturned(t, p, 1)
	if !bytes.Equal(got[0], stun(1)) {
		t.Errorf("handed back %d bytes, want the STUN datagram after the oversize one", len(got[0]))
	}
	if s := stats(&p.counters); s != (PortStats{Oversize: 1}) {
		t.Errorf("counters %+v, want one oversize", s)
	}
}

func TestMediaPortReadsIPv6Senders(t *testing.T) {
	p := testPort(t, "::1")
	c := dial(t, p)
	send(t, c, stun(6))
	got, from := readReturned(t, p, 1)
	if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); from[0] != want || !bytes.Equal(got[0], stun(6)) {
		t.Errorf("read %x from %v, want %x from %v", got[0], from[0], stun(6), want)
	}
}

func TestMediaPortReadDoesNotAllocate(t *testing.T) {
	p := testPort(t, "127.0.0.1")
	c := dial(t, p)
	ctx, err := receiveContext(testMasterKey, testMasterSalt, testProfile)
	if err != nil {
		t.Fatal(err)
	}
	p.addRoute(c.LocalAddr().(*net.UDPAddr).AddrPort(), newRoute(ctx, []uint32{7}, 1, takeAndDrop, &p.counters))
	peer := newPeer(t)
	const runs = 50
	packets := make([][]byte, runs+2)
	for i := range packets {
		packets[i] = peer.packet(7, 111, []byte{1, 2, 3})
	}
	buf, probe := make([]byte, 4096), stun(0)
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		c.Write(packets[i])
		c.Write(probe)
		i++
		if _, _, err := p.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet read, want 0", allocs)
	}
}

// takeAndDrop takes every track and drops its packets.
func takeAndDrop(*Track) PacketHandler { return nopTrack{} }

type nopTrack struct{}

func (nopTrack) Push([]byte, time.Time) {}
func (nopTrack) Flush()                 {}

func TestMediaPortCoalescesOnlyWhilePacketsComeFast(t *testing.T) {
	p := &mediaPort{}
	t0 := time.Now()
	judge := func(packets int, after time.Duration) bool {
		p.rate.packets += packets
		p.readAt = p.rate.since.Add(after)
		return p.coalescing()
	}
	p.rate.since = t0
	if judge(3*coalesceMin, rateWindow/2) {
		t.Error("coalescing before a whole window was judged")
	}
	perWindow := coalesceMin * int(rateWindow/coalesceFor)
	if !judge(perWindow-3*coalesceMin, rateWindow) {
		t.Errorf("not coalescing at %d packets per %v", perWindow, rateWindow)
	}
	if !judge(perWindow-1, rateWindow/2) {
		t.Error("stopped coalescing inside a window")
	}
	if judge(0, rateWindow) {
		t.Errorf("still coalescing at %d packets per %v", perWindow-1, rateWindow)
	}
}
