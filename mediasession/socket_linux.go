package mediasession

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg takes at most.
const batchSize = 32

// slotBytes is the room for one datagram. Audio SRTP is a few hundred
// bytes and pion's DTLS fragments its flights to 1200; anything larger is
// not a media packet and is dropped as oversize.
const slotBytes = 2048

// oobBytes is the room for one control message: the SCM_TIMESTAMPNS
// timespec, header and padding included.
const oobBytes = 64

// mmsghdr is struct mmsghdr: Go pads it to its alignment as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// socket is a media port's UDP socket, outside Go's network poller. A
// socket in the poller wakes a thread (epoll) for every datagram that
// arrives while its reader is busy or coalescing, though nobody waits for
// it: at 5,000 packets a second that was thousands of idle wake-ups, each
// a context switch, costing the process more than it spent reading. Here
// the reader blocks in recvmmsg itself when it waits, and looks without
// blocking when it coalesces; nothing else is woken.
//
// It reads the queued datagrams in one system call (recvmmsg), each with
// the kernel's stamp of its arrival.
type socket struct {
	file   *os.File
	raw    syscall.RawConn
	local  *net.UDPAddr
	inet6  bool // an AF_INET6 socket: IPv4 peers are written as mapped
	closed atomic.Bool

	msgs  [batchSize]mmsghdr
	iovs  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6 // room for either family
	bufs  [batchSize][slotBytes]byte
	oobs  [batchSize][oobBytes]byte // each datagram's kernel receive time

	// set by recv, read by read: recv is the callback of raw.Read, made a
	// method value once so that no read allocates.
	wait bool
	got  int
	err  error
	recv func(fd uintptr) bool
}

// newSocket takes conn's socket out of Go's poller: it keeps a duplicate
// of the descriptor in blocking mode and closes conn (which leaves the
// poller; the socket lives on in the duplicate).
func newSocket(conn *net.UDPConn) (*socket, error) {
	s := &socket{local: conn.LocalAddr().(*net.UDPAddr)}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	fd, domain := -1, 0
	if cerr := raw.Control(func(c uintptr) {
		if fd, err = unix.FcntlInt(c, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			domain, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		}
	}); cerr != nil || err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("media socket: %w", errors.Join(cerr, err))
	}
	_ = conn.Close()
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("media socket: %w", err)
	}
	// The kernel stamps each datagram as it queues it, so that a packet's
	// arrival is not the moment a coalescing reader took it. Without the
	// stamps (an old kernel), arrival is the read.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	s.inet6 = domain == unix.AF_INET6
	s.file = os.NewFile(uintptr(fd), "media socket "+s.local.String()) // blocking: not in the poller
	if s.raw, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		return nil, fmt.Errorf("media socket: %w", err)
	}
	for i := range s.msgs {
		s.iovs[i].Base = &s.bufs[i][0]
		s.iovs[i].SetLen(slotBytes)
		s.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		s.msgs[i].hdr.Iov = &s.iovs[i]
		s.msgs[i].hdr.SetIovlen(1)
		s.msgs[i].hdr.Control = &s.oobs[i][0]
	}
	s.recv = s.recvmmsg
	return s, nil
}

// read fills the batch with what the socket holds, up to batchSize
// datagrams. With wait it blocks until there is at least one; without, it
// returns 0 when there is none. After close it returns net.ErrClosed.
func (s *socket) read(wait bool) (int, error) {
	s.wait, s.got, s.err = wait, 0, nil
	err := s.raw.Read(s.recv)
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	if err != nil {
		return 0, err
	}
	return s.got, s.err
}

func (s *socket) recvmmsg(fd uintptr) bool {
	for i := range s.msgs {
		s.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		s.msgs[i].hdr.SetControllen(oobBytes)
		s.msgs[i].hdr.Flags = 0
	}
	flags := unix.MSG_DONTWAIT
	if s.wait {
		flags = unix.MSG_WAITFORONE
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.msgs[0])),
			batchSize, uintptr(flags), 0, 0)
		switch errno {
		case 0:
			s.got = int(n)
		case unix.EINTR:
			if !s.closed.Load() {
				continue
			}
		case unix.EAGAIN:
		default:
			s.err = fmt.Errorf("media socket: recvmmsg: %w", errno)
		}
		return true
	}
}

// packet is datagram i of the last read and its sender; oversize says it
// did not fit its slot (and was cut).
func (s *socket) packet(i int) (b []byte, from netip.AddrPort, oversize bool) {
	m := &s.msgs[i]
	return s.bufs[i][:min(int(m.len), slotBytes)], sockaddrAddrPort(&s.names[i]), m.hdr.Flags&unix.MSG_TRUNC != 0
}

// maxQueued bounds how long a datagram can have waited in the socket: a
// stamp older than that (or from the future) means the wall clock was set
// between the stamp and the read, and the read time stands in for it.
const maxQueued = 10 * time.Second

// arrival is when datagram i of the batch read at readAt reached the
// socket. The kernel stamps it on the wall clock; the age it gives is
// applied to readAt, which keeps readAt's monotonic reading.
func (s *socket) arrival(i int, readAt time.Time) time.Time {
	m := &s.msgs[i]
	if int(m.hdr.Controllen) < unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
		return readAt
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&s.oobs[i][0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_TIMESTAMPNS {
		return readAt
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&s.oobs[i][unix.CmsgLen(0)]))
	age := time.Duration(readAt.UnixNano() - ts.Nano())
	if age < 0 || age >= maxQueued {
		return readAt
	}
	return readAt.Add(-age)
}

// writeTo sends b to addr without blocking: a datagram the send buffer has
// no room for is dropped (ENOBUFS/EAGAIN), as the network would drop it.
// It does not allocate.
func (s *socket) writeTo(b []byte, addr netip.AddrPort) (int, error) {
	var sa unix.RawSockaddrInet6
	size := uintptr(unix.SizeofSockaddrInet6)
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(addr.Port()>>8), byte(addr.Port())
	switch ip := addr.Addr(); {
	case s.inet6:
		sa.Family, sa.Addr = unix.AF_INET6, ip.As16()
	case ip.Unmap().Is4():
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family, sa4.Addr, size = unix.AF_INET, ip.Unmap().As4(), unix.SizeofSockaddrInet4
	default:
		return 0, fmt.Errorf("media socket: %v: an IPv6 address on an IPv4 socket", addr)
	}
	var n uintptr
	var errno syscall.Errno
	err := s.raw.Write(func(fd uintptr) bool {
		var p unsafe.Pointer
		if len(b) > 0 {
			p = unsafe.Pointer(&b[0])
		}
		n, _, errno = unix.Syscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), size)
		return true
	})
	switch {
	case s.closed.Load():
		return 0, net.ErrClosed
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, fmt.Errorf("media socket: sendto: %w", errno)
	}
	return int(n), nil
}

// close wakes a reader blocked in recvmmsg (shutdown) and closes the
// socket once that reader has left it.
func (s *socket) close() error {
	if s.closed.Swap(true) {
		return net.ErrClosed
	}
	_ = s.raw.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	return s.file.Close()
}

// errNoReadDeadline: a read ends when a datagram comes or the port closes.
var errNoReadDeadline = errors.New("media socket: no read deadline: Close ends a read")

// setReadDeadline is not supported: nothing in the media path sets one.
func (s *socket) setReadDeadline(time.Time) error { return errNoReadDeadline }

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
