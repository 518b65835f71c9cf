//go:build !linux

package mediasession

import (
	"net"
	"net/netip"
	"time"
)

// socket reads one datagram at a time where recvmmsg is not available,
// through Go's poller; it always waits.
type socket struct {
	conn  *net.UDPConn
	local *net.UDPAddr
	buf   [slotBytes + 1]byte // one more: a datagram that fills it did not fit
	n     int
	from  netip.AddrPort
}

// A batch of one is never short, so the reader never coalesces here.
const (
	batchSize = 1
	slotBytes = 2048
)

func newSocket(conn *net.UDPConn) (*socket, error) {
	return &socket{conn: conn, local: conn.LocalAddr().(*net.UDPAddr)}, nil
}

func (s *socket) read(bool) (int, error) {
	n, from, err := s.conn.ReadFromUDPAddrPort(s.buf[:])
	if err != nil {
		return 0, err
	}
	s.n, s.from = n, from
	return 1, nil
}

func (s *socket) packet(int) ([]byte, netip.AddrPort, bool) {
	return s.buf[:min(s.n, slotBytes)], s.from, s.n > slotBytes
}

// arrival is the read: without recvmmsg's control messages there is no
// kernel stamp, and the reader never coalesces, so the two are close.
func (s *socket) arrival(_ int, readAt time.Time) time.Time { return readAt }

func (s *socket) writeTo(b []byte, addr netip.AddrPort) (int, error) {
	return s.conn.WriteToUDPAddrPort(b, addr)
}

func (s *socket) close() error { return s.conn.Close() }

func (s *socket) setReadDeadline(t time.Time) error { return s.conn.SetReadDeadline(t) }
