package mediasession

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// loopbackSocket is a media socket on 127.0.0.1, closed when the test ends.
func loopbackSocket(t *testing.T) *socket {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSocket(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	return s
}

// A datagram's arrival is when the kernel queued it, not when a reader that
// was coalescing (or starved) took it: its age is kept off the read time.
func TestArrivalIsWhenTheKernelQueuedTheDatagram(t *testing.T) {
	r := loopbackSocket(t)
	send, err := net.DialUDP("udp4", nil, r.local)
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	const queued = 50 * time.Millisecond
	sent := time.Now()
	if _, err := send.Write([]byte{0x80, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(queued)
	n, err := r.read(true)
	readAt := time.Now()
	if err != nil || n != 1 {
		t.Fatalf("read %d datagrams: %v", n, err)
	}
	got := r.arrival(0, readAt)
	if age := readAt.Sub(got); age < queued || got.Before(sent) {
		t.Errorf("arrival %v before the read, want at least %v and after the send (%v before the read)", age, queued, readAt.Sub(sent))
	}
	// A wall clock set between the stamp and the read gives an age that
	// cannot be: the read time stands in.
	for _, jumped := range []time.Time{readAt.Add(time.Hour), sent.Add(-time.Hour)} {
		if got := r.arrival(0, jumped); !got.Equal(jumped) {
			t.Errorf("read at %v (clock set): arrival %v, want the read time", jumped, got)
		}
	}
}

// A reader waiting in recvmmsg (outside Go's poller, so no deadline or
// poller wake-up reaches it) returns when the socket is closed.
func TestCloseEndsAWaitingRead(t *testing.T) {
	s := loopbackSocket(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.read(true)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it block
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting read did not return after close")
	}
	if _, err := s.writeTo([]byte{1}, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
}

// Writes reach peers of the socket's family, IPv4 and IPv6, and carry the
// sender's address back: what a reply to a STUN check needs.
func TestWriteReachesThePeer(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			ip := net.IPv4(127, 0, 0, 1)
			if network == "udp6" {
				ip = net.IPv6loopback
			}
			conn, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			s, err := newSocket(conn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			peer, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if n, err := s.writeTo([]byte("ping"), peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil || n != 4 {
				t.Fatalf("write: %d, %v", n, err)
			}
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "ping" || from.Port() != uint16(s.local.Port) {
				t.Fatalf("peer read %q from %v: %v (socket on %v)", buf[:n], from, err, s.local)
			}
			if _, err := peer.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
				t.Fatal(err)
			}
			if n, err := s.read(true); err != nil || n != 1 {
				t.Fatalf("read %d: %v", n, err)
			}
			b, sender, _ := s.packet(0)
			if string(b) != "pong" || sender.Port() != peer.LocalAddr().(*net.UDPAddr).AddrPort().Port() {
				t.Errorf("read %q from %v", b, sender)
			}
		})
	}
}
