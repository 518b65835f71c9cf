package mediasession

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg takes at most.
const batchSize = 32

// slotBytes is the room for one datagram. Audio SRTP is a few hundred
// bytes and pion's DTLS fragments its flights to 1200; anything larger is
// not a media packet and is dropped as oversize.
const slotBytes = 2048

// mmsghdr is struct mmsghdr: Go pads it to its alignment as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchReader reads the socket's queued datagrams in one system call
// (recvmmsg) instead of one call each, and can look without waiting, which
// is what lets a busy port's reader coalesce its wake-ups.
type batchReader struct {
	raw   syscall.RawConn
	msgs  [batchSize]mmsghdr
	iovs  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6 // room for either family
	bufs  [batchSize][slotBytes]byte

	// set by recv, read by read: recv is the callback of raw.Read, made a
	// method value once so that no read allocates.
	wait bool
	got  int
	err  error
	recv func(fd uintptr) bool
}

func newBatchReader(conn *net.UDPConn) (*batchReader, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	r := &batchReader{raw: raw}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(slotBytes)
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
	}
	r.recv = r.recvmmsg
	return r, nil
}

// read fills the batch with what the socket holds, up to batchSize
// datagrams. With wait it blocks (in Go's poller) until there is at least
// one; without, it returns 0 when there is none.
func (r *batchReader) read(wait bool) (int, error) {
	r.wait, r.got, r.err = wait, 0, nil
	if err := r.raw.Read(r.recv); err != nil {
		return 0, err
	}
	return r.got, r.err
}

func (r *batchReader) recvmmsg(fd uintptr) bool {
	for i := range r.msgs {
		r.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.msgs[i].hdr.Flags = 0
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])),
			batchSize, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.got = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return !r.wait
		default:
			r.err = fmt.Errorf("media socket: recvmmsg: %w", errno)
			return true
		}
	}
}

// packet is datagram i of the last read and its sender; oversize says it
// did not fit its slot (and was cut).
func (r *batchReader) packet(i int) (b []byte, from netip.AddrPort, oversize bool) {
	m := &r.msgs[i]
	return r.bufs[i][:min(int(m.len), slotBytes)], sockaddrAddrPort(&r.names[i]), m.hdr.Flags&unix.MSG_TRUNC != 0
}

// sockaddrAddrPort reads an AF_INET or AF_INET6 address the kernel wrote.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	b := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(b[0])<<8 | uint16(b[1])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
}
