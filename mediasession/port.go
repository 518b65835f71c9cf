package mediasession

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// mediaPort is one media socket. pion's ICE UDP mux reads it for STUN and
// DTLS, but the mux reads through mediaPort, which takes SRTP and SRTCP from
// peers whose DTLS is up out of the stream before the mux sees them: it
// decrypts and delivers them on the mux's own reader goroutine. A packet
// therefore crosses no goroutine between the kernel and its decoder.
//
// mediaPort is the mux's net.PacketConn; it implements pion's
// AddrPortReaderWriter so the mux reads and writes without allocating.
type mediaPort struct {
	sock *socket

	// routes maps a peer's address to its session's receive state. The
	// reader loads it once per packet; sessions replace it (copy on write)
	// under mu, so the reader never locks.
	routes atomic.Pointer[map[netip.AddrPort]*route]
	mu     sync.Mutex

	counters portCounters

	// Only the reader uses these.
	got     int       // datagrams in the batch
	next    int       // the next one to handle
	readAt  time.Time // when the batch was read: its packets' arrival
	yielded time.Time // when the reader last yielded
	rate    struct {
		since   time.Time
		packets int
		busy    bool // coalescing wake-ups
	}

	// passes goes up each time the reader, done with a batch, goes back to
	// the socket; idle is set while it waits there for traffic. They let a
	// route that closes see its last packets taken first (takeQueued).
	passes atomic.Uint64
	idle   atomic.Bool

	// busy is the time, in ns, the reader spent on connected peers' packets
	// from arrival to hand-off: the share of a core one port's reader uses,
	// which cannot exceed one whatever the machine's idle share.
	busy atomic.Int64
}

// yieldEvery is how long the reader runs without yielding while packets keep
// coming. Go's sysmon preempts a goroutine that has run for 10 ms, and when
// that goroutine is in a cgo call (a decode, most of the time) it takes its P
// away and then polls every 20 µs for a while: yielding first spares both.
const yieldEvery = 5 * time.Millisecond

// coalesceFor is how long a busy port's reader lets packets gather in the
// socket before it takes them. Each wake-up of a thread costs the process
// about as much as decoding a packet (a context switch on a VM, the Go
// scheduler's search for work, sysmon woken): at 4 ms a port taking 250
// streams wakes 250 times a second for 20 packets each, instead of 1,000
// times for 5. A packet waits at most that long (plus the timer's slack),
// and the kernel's stamp of its arrival counts the wait in every delay.
const coalesceFor = 4 * time.Millisecond

// coalesceMin is how many packets per coalesceFor make a port busy enough
// to coalesce: below it a wake-up per packet costs less than the timer's.
const coalesceMin = 2

// rateWindow is how often the reader judges its packet rate anew.
const rateWindow = 5 * coalesceFor

// portCounters count, per port, what the reader did with connected peers'
// packets, and what it dropped of anyone else's (PortStats says what each
// means). Only the reader adds to them.
type portCounters struct {
	srtp, rtcp, undecryptable, replayed, unknownSSRC, oversize, unrecognized, unknownSender atomic.Uint64
}

// PortStats counts what the media ports received from connected peers
// outside the streams' own counters, and what they dropped unread from
// anyone else, since the engine started.
type PortStats struct {
	// SRTP counts packets delivered decrypted to a track.
	SRTP uint64
	// RTCP counts authentic SRTCP packets, decrypted and read (sender
	// reports for the receiver reports' LSR, BYE to end a stream).
	RTCP uint64
	// Undecryptable counts packets that failed SRTP or SRTCP
	// authentication:
	// garbage or forged.
	Undecryptable uint64
	// Replayed counts authentic packets seen before (within the last 64):
	// network duplicates, or a replay.
	Replayed uint64
	// UnknownSSRC counts packets on a source past what the answer declared
	// and sends on, in a payload type the offer did not carry, of a
	// stream no consumer took, or of a source that said BYE.
	UnknownSSRC uint64
	// Oversize counts datagrams from anyone too large to be a media,
	// STUN or DTLS packet, dropped unread.
	Oversize uint64
	// Unrecognized counts datagrams from anyone that are none of STUN,
	// DTLS, RTP or RTCP by their first byte (RFC 7983), dropped unread.
	Unrecognized uint64
	// UnknownSender counts datagrams dropped because they come from an
	// address no session is connected with and are not an ICE check
	// naming a live session: garbage, stray or forged media, checks for
	// ended or unknown sessions. (A check that names a live session but
	// fails its integrity is the ICE agent's to drop, uncounted; so is a
	// STUN message too malformed to name any session.)
	UnknownSender uint64
}

func (c *portCounters) addTo(s *PortStats) {
	s.SRTP += c.srtp.Load()
	s.RTCP += c.rtcp.Load()
	s.Undecryptable += c.undecryptable.Load()
	s.Replayed += c.replayed.Load()
	s.UnknownSSRC += c.unknownSSRC.Load()
	s.Oversize += c.oversize.Load()
	s.Unrecognized += c.unrecognized.Load()
	s.UnknownSender += c.unknownSender.Load()
}

// newMediaPort takes over conn's socket (conn is closed or kept by it).
func newMediaPort(conn *net.UDPConn) (*mediaPort, error) {
	sock, err := newSocket(conn)
	if err != nil {
		return nil, err
	}
	p := &mediaPort{sock: sock}
	empty := map[netip.AddrPort]*route{}
	p.routes.Store(&empty)
	return p, nil
}

// isSRTPOrSRTCP tells RTP-family packets from STUN (first byte 0–3) and DTLS
// (20–63), as RFC 7983 demultiplexes them.
func isSRTPOrSRTCP(b []byte) bool {
	return len(b) >= 12 && b[0] >= 128 && b[0] <= 191
}

// demuxable tells what RFC 7983 lets a port that speaks STUN, DTLS and SRTP
// take, by its first byte: 0–3 STUN, 20–63 DTLS, 128–191 RTP and RTCP.
// Anything else (ZRTP, TURN channels, garbage) no one here would read.
func demuxable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	c := b[0]
	return c <= 3 || (c >= 20 && c <= 63) || (c >= 128 && c <= 191)
}

// ReadFromAddrPort returns the next packet that is not a connected peer's
// SRTP; those it delivers itself.
//
// hot path: no alloc, no lock.
func (p *mediaPort) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	start := time.Now()
	for {
		for p.next < p.got {
			i := p.next
			p.next++
			pkt, from, oversize := p.sock.packet(i)
			if oversize {
				p.counters.oversize.Add(1)
				continue
			}
			if !isSRTPOrSRTCP(pkt) {
				if !demuxable(pkt) {
					p.counters.unrecognized.Add(1)
					continue
				}
				return copy(b, pkt), from, nil
			}
			r := (*p.routes.Load())[canonical(from)]
			if r == nil {
				return copy(b, pkt), from, nil // not connected yet: the session's DTLS side keeps it
			}
			r.receive(pkt, p.sock.arrival(i, p.readAt))
			done := time.Now()
			p.busy.Add(int64(done.Sub(start)))
			start = done
			if done.Sub(p.yielded) > yieldEvery {
				p.yielded = done
				runtime.Gosched()
				start = time.Now()
			}
		}
		if err := p.fill(); err != nil {
			return 0, netip.AddrPort{}, err
		}
		start = p.readAt
	}
}

// fill reads the next batch. While packets come faster than one every
// coalesceFor/coalesceMin, a reader that emptied the socket sleeps for
// coalesceFor before it looks again, instead of being woken for each
// packet: one wake-up then takes a batch.
func (p *mediaPort) fill() error {
	p.passes.Add(1)
	drained := p.got < batchSize
	wait := true
	if drained && p.coalescing() {
		time.Sleep(coalesceFor)
		wait = false
	}
	p.idle.Store(wait)
	n, err := p.sock.read(wait)
	if err == nil && n == 0 { // looked without waiting, found nothing: traffic has paused
		p.idle.Store(true)
		n, err = p.sock.read(true)
	}
	p.idle.Store(false)
	p.readAt = time.Now()
	p.got, p.next = n, 0
	p.rate.packets += n
	return err
}

// coalescing is whether the reader coalesces its wake-ups: it did when the
// last rateWindow brought at least coalesceMin packets per coalesceFor.
func (p *mediaPort) coalescing() bool {
	if p.readAt.Sub(p.rate.since) >= rateWindow {
		p.rate.busy = p.rate.packets*int(coalesceFor) >= coalesceMin*int(p.readAt.Sub(p.rate.since))
		p.rate.since, p.rate.packets = p.readAt, 0
	}
	return p.rate.busy
}

// WriteToAddrPort sends b to addr.
func (p *mediaPort) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return p.sock.writeTo(b, addr)
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr.
func (p *mediaPort) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := p.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteTo sends b to addr, a *net.UDPAddr.
func (p *mediaPort) WriteTo(b []byte, addr net.Addr) (int, error) {
	udp, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("media socket: %T is not a UDP address", addr)
	}
	return p.sock.writeTo(b, udp.AddrPort())
}

// Close closes the socket; a read in progress returns net.ErrClosed.
func (p *mediaPort) Close() error { return p.sock.close() }

// LocalAddr is the socket's address.
func (p *mediaPort) LocalAddr() net.Addr { return p.sock.local }

// SetDeadline sets the read deadline (writes never block).
func (p *mediaPort) SetDeadline(t time.Time) error { return p.sock.setReadDeadline(t) }

// SetReadDeadline sets the read deadline where the platform's socket has
// one; on Linux a read ends only with a datagram or Close.
func (p *mediaPort) SetReadDeadline(t time.Time) error { return p.sock.setReadDeadline(t) }

// SetWriteDeadline does nothing: writes never block (a datagram the send
// buffer has no room for is dropped), so there is nothing to abort.
func (p *mediaPort) SetWriteDeadline(time.Time) error { return nil }

// port is the bound UDP port.
func (p *mediaPort) port() int { return p.sock.local.Port }

// addRoute sends the SRTP of peer to r from now on.
func (p *mediaPort) addRoute(peer netip.AddrPort, r *route) {
	p.updateRoutes(func(m map[netip.AddrPort]*route) { m[canonical(peer)] = r })
}

// maxTakeWait bounds how long a closing route waits for the reader to take
// what the socket holds (a starved reader, or a close on the reader's own
// goroutine, must not hold a close up).
const maxTakeWait = 100 * time.Millisecond

// takeQueued returns once the reader has handled the datagrams the socket
// held when it was called: a coalescing reader leaves packets in the socket
// for up to coalesceFor, and a route removed before it takes them would
// lose the last packets of its call. It returns at once when the reader
// waits on an empty socket, and after maxTakeWait at most.
func (p *mediaPort) takeQueued() {
	start := p.passes.Load()
	deadline := time.Now().Add(maxTakeWait)
	for p.passes.Load() < start+2 && time.Now().Before(deadline) {
		// Done with the batch it had, and still waiting in the socket a
		// millisecond later (a queued datagram would have woken it).
		if n := p.passes.Load(); n > start && p.idle.Load() {
			time.Sleep(time.Millisecond)
			if p.passes.Load() == n && p.idle.Load() {
				return
			}
			continue
		}
		time.Sleep(time.Millisecond)
	}
}

// removeRoutes stops sending anything to r. Once it returns, the reader may
// still be inside r.receive for a packet it loaded before: route.close
// waits for that.
func (p *mediaPort) removeRoutes(r *route) {
	p.updateRoutes(func(m map[netip.AddrPort]*route) {
		for addr, to := range m {
			if to == r {
				delete(m, addr)
			}
		}
	})
}

func (p *mediaPort) updateRoutes(change func(map[netip.AddrPort]*route)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.routes.Load()
	next := make(map[netip.AddrPort]*route, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	change(next)
	p.routes.Store(&next)
}

// canonical is addr with an IPv4-mapped IPv6 address unmapped, as the reader
// looks it up.
func canonical(addr netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
}
