//go:build !linux

package mediasession

import (
	"net"
	"net/netip"
)

// batchReader reads one datagram at a time where recvmmsg is not available;
// it always waits.
type batchReader struct {
	conn *net.UDPConn
	buf  [slotBytes + 1]byte // one more: a datagram that fills it did not fit
	n    int
	from netip.AddrPort
}

// A batch of one is never short, so the reader never coalesces here.
const (
	batchSize = 1
	slotBytes = 2048
)

func newBatchReader(conn *net.UDPConn) (*batchReader, error) { return &batchReader{conn: conn}, nil }

func (r *batchReader) read(bool) (int, error) {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.buf[:])
	if err != nil {
		return 0, err
	}
	r.n, r.from = n, from
	return 1, nil
}

func (r *batchReader) packet(int) ([]byte, netip.AddrPort, bool) {
	return r.buf[:min(r.n, slotBytes)], r.from, r.n > slotBytes
}
