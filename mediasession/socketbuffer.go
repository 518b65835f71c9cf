package mediasession

import (
	"log/slog"
	"net"
	"syscall"
)

// sizeSocket asks for size bytes of receive and send buffer and warns when
// the kernel grants less: a small receive buffer turns a short stall of the
// socket's reader into lost packets (net.core.rmem_max caps it on Linux).
func sizeSocket(conn *net.UDPConn, size int, log *slog.Logger) {
	_ = conn.SetReadBuffer(size)
	_ = conn.SetWriteBuffer(size)
	got := receiveBuffer(conn)
	// Linux reports twice what it grants, for its own bookkeeping.
	if got > 0 && got/2 < size {
		log.Warn("the kernel caps the media socket's receive buffer; raise it to avoid packet loss under load",
			"port", conn.LocalAddr().(*net.UDPAddr).Port, "wanted_bytes", size, "granted_bytes", got/2,
			"fix", "sysctl -w net.core.rmem_max=16777216 net.core.wmem_max=16777216")
	}
}

// receiveBuffer is SO_RCVBUF as the kernel reports it, 0 if unknown.
func receiveBuffer(conn *net.UDPConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	size := 0
	_ = raw.Control(func(fd uintptr) {
		size, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return size
}
