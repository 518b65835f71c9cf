package mediasession

import (
	"net"
	"time"

	"github.com/pion/ice/v4"
)

// dtlsPacketConn is the DTLS side of a session's ICE connection. It gives
// pion's DTLS the DTLS records only (first byte 20–63, RFC 7983) and hands
// SRTP that arrives before the session's route is up to early: the peer may
// start sending as soon as its own side of the handshake is done.
type dtlsPacketConn struct {
	conn  *ice.Conn
	early func(b []byte, at time.Time)
}

func isDTLS(b []byte) bool { return len(b) > 0 && b[0] >= 20 && b[0] <= 63 }

func (c *dtlsPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, err := c.conn.Read(b)
		if err != nil {
			return n, nil, err
		}
		switch {
		case isDTLS(b[:n]):
			return n, c.conn.RemoteAddr(), nil
		case isSRTPOrSRTCP(b[:n]):
			c.early(b[:n], time.Now())
		}
	}
}

func (c *dtlsPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.conn.Write(b) }
func (c *dtlsPacketConn) Close() error                              { return c.conn.Close() }
func (c *dtlsPacketConn) LocalAddr() net.Addr                       { return c.conn.LocalAddr() }
func (c *dtlsPacketConn) SetDeadline(t time.Time) error             { return c.conn.SetDeadline(t) }
func (c *dtlsPacketConn) SetReadDeadline(t time.Time) error         { return c.conn.SetReadDeadline(t) }
func (c *dtlsPacketConn) SetWriteDeadline(t time.Time) error        { return c.conn.SetWriteDeadline(t) }
