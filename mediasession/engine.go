package mediasession

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// EngineConfig configures the process-wide media engine.
type EngineConfig struct {
	// Port is the UDP port that carries all media; 0 picks a free one.
	Port int
	// Ports is how many consecutive UDP ports from Port share the media
	// (default 1): each socket has one reader goroutine, so past a few
	// hundred streams one port is the limit. Sessions are spread over the
	// ports in turn. More than one needs a fixed Port.
	Ports int
	// BindIP is the local address of the media sockets; empty is 0.0.0.0.
	BindIP string
	// PublicIP, when set, replaces the address of the host candidates in
	// every offer (1:1 NAT: the VM's public address).
	PublicIP string
	// ICELite makes the bot an ICE-lite agent (public hosts only).
	ICELite bool
	// SocketBuffer is the receive and send buffer asked for each socket
	// (DefaultSocketBuffer if zero); a kernel that caps it lower is logged.
	SocketBuffer int
	// Logger receives the engine's logs; nil is slog.Default().
	Logger *slog.Logger
}

// DefaultSocketBuffer absorbs bursts: at 400 streams of 50 packets/s a
// reader that stalls for 100 ms must hold 2,000 packets (about 400 KiB of
// Opus, several times that in kernel bookkeeping).
const DefaultSocketBuffer = 4 << 20

// Engine owns the media ports and the DTLS certificate. All sessions share
// them: the ICE UDP mux on each port is what lets one public port serve
// every call.
type Engine struct {
	ports  []*enginePort
	next   atomic.Uint64 // round robin over ports
	cert   dtlsCertificate
	lite   bool
	log    *slog.Logger
	closed chan struct{}
	// rtcpMinInterval is RFC 3550's minimum RTCP interval: rtcpMinInterval,
	// shorter in tests.
	rtcpMinInterval time.Duration

	mu       sync.Mutex
	sessions map[string]*Session
	// ended remembers recently ended sessions (id -> when to forget it), so
	// that a late answer hears 410 Gone, not 404; endedOrder is the same ids
	// oldest first, so forgetting costs no scan.
	ended      map[string]time.Time
	endedOrder []string
}

// enginePort is one media socket, the ICE mux over it and the options of
// the agents that gather on it.
type enginePort struct {
	*mediaPort
	mux          ice.UDPMux
	agentOptions []ice.AgentOption
}

// endedMemory is how long an ended session's id is remembered.
const endedMemory = 10 * time.Minute

// NewEngine opens the media sockets and makes the DTLS certificate.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Ports <= 0 {
		cfg.Ports = 1
	}
	if cfg.Ports > 1 && cfg.Port == 0 {
		return nil, fmt.Errorf("%w: %d media ports need a fixed first port", ErrBadEngineSetting, cfg.Ports)
	}
	if cfg.SocketBuffer <= 0 {
		cfg.SocketBuffer = DefaultSocketBuffer
	}
	bind := cfg.BindIP
	if bind == "" {
		bind = "0.0.0.0"
	}
	bindAddr, err := netip.ParseAddr(bind)
	if err != nil {
		return nil, fmt.Errorf("%w: media bind address %q: %v", ErrBadEngineSetting, bind, err)
	}
	var publicIP netip.Addr
	if cfg.PublicIP != "" {
		if publicIP, err = netip.ParseAddr(cfg.PublicIP); err != nil {
			return nil, fmt.Errorf("%w: media public IP %q: %v", ErrBadEngineSetting, cfg.PublicIP, err)
		}
	}
	cert, err := newDTLSCertificate()
	if err != nil {
		return nil, err
	}
	e := &Engine{cert: cert, lite: cfg.ICELite, log: log, closed: make(chan struct{}), sessions: map[string]*Session{}, ended: map[string]time.Time{},
		rtcpMinInterval: rtcpMinInterval}
	for i := range cfg.Ports {
		port := 0
		if cfg.Port != 0 {
			port = cfg.Port + i
		}
		if err := e.openPort(cfg, netip.AddrPortFrom(bindAddr, uint16(port)), publicIP); err != nil {
			e.closePorts()
			return nil, err
		}
	}
	return e, nil
}

// openPort opens one media socket, its ICE mux, and the agent options of
// the sessions on it: host candidates on UDP only, no mDNS, the public IP in
// place of the host address when set (1:1 NAT).
func (e *Engine) openPort(cfg EngineConfig, addr netip.AddrPort, public netip.Addr) error {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return fmt.Errorf("media port %d: %w", addr.Port(), err)
	}
	sizeSocket(conn, cfg.SocketBuffer, e.log)
	logs := quietLoggerFactory()
	port, err := newMediaPort(conn)
	if err != nil {
		conn.Close()
		return err
	}
	p := &enginePort{mediaPort: port}
	p.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: logs.NewLogger("ice"), UDPConn: p.mediaPort,
		// What the mux cannot route it drops: a datagram from an address
		// no session has connected with that is not an ICE check naming a
		// live session. It calls this on the port's reader goroutine.
		OnUnhandledPacket: func([]byte, netip.AddrPort) { port.counters.unknownSender.Add(1) }})
	e.ports = append(e.ports, p)
	p.agentOptions = []ice.AgentOption{
		ice.WithUDPMux(p.mux),
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4, ice.NetworkTypeUDP6}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithICELite(cfg.ICELite),
		ice.WithLoggerFactory(logs),
	}
	if addr.Addr().IsLoopback() || public.IsLoopback() {
		p.agentOptions = append(p.agentOptions, ice.WithIncludeLoopback())
	}
	if public.IsValid() {
		p.agentOptions = append(p.agentOptions, ice.WithAddressRewriteRules(ice.AddressRewriteRule{
			External:        []string{public.String()},
			AsCandidateType: ice.CandidateTypeHost,
			Mode:            ice.AddressRewriteReplace,
		}))
	}
	return nil
}

// nextPort spreads sessions over the ports in turn.
func (e *Engine) nextPort() *enginePort {
	return e.ports[(e.next.Add(1)-1)%uint64(len(e.ports))]
}

// PortStats sums the ports' counters.
func (e *Engine) PortStats() PortStats {
	var s PortStats
	for _, p := range e.ports {
		p.counters.addTo(&s)
	}
	return s
}

// ReaderBusy is, for each media port in MediaPorts' order, the time its
// reader goroutine has spent decrypting, decoding and delivering packets
// since the engine started. One reader runs on one core at a time: when its
// time grows nearly as fast as the clock, that port is full.
func (e *Engine) ReaderBusy() []time.Duration {
	busy := make([]time.Duration, len(e.ports))
	for i, p := range e.ports {
		busy[i] = time.Duration(p.busy.Load())
	}
	return busy
}

// MediaPort is the first bound UDP media port.
func (e *Engine) MediaPort() int { return e.MediaPorts()[0] }

// MediaPorts are the bound UDP media ports.
func (e *Engine) MediaPorts() []int {
	ports := make([]int, len(e.ports))
	for i, p := range e.ports {
		ports[i] = p.port()
	}
	return ports
}

// Session returns the live session with this id, or nil.
func (e *Engine) Session(id string) *Session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[id]
}

// Sessions is the number of live sessions.
func (e *Engine) Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

func (e *Engine) add(s *Session) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.closed:
		return ErrEngineClosed
	default:
	}
	e.sessions[s.id] = s
	return nil
}

func (e *Engine) remove(id string) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, live := e.sessions[id]; !live {
		return
	}
	delete(e.sessions, id)
	for len(e.endedOrder) > 0 && now.After(e.ended[e.endedOrder[0]]) {
		delete(e.ended, e.endedOrder[0])
		e.endedOrder = e.endedOrder[1:]
	}
	e.ended[id] = now.Add(endedMemory)
	e.endedOrder = append(e.endedOrder, id)
}

// hasEnded reports whether a session with this id ended recently.
func (e *Engine) hasEnded(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	forget, ok := e.ended[id]
	return ok && time.Now().Before(forget)
}

// Close ends every session and closes the media socket.
func (e *Engine) Close() error {
	e.mu.Lock()
	select {
	case <-e.closed:
		e.mu.Unlock()
		return nil
	default:
	}
	close(e.closed)
	live := make([]*Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		live = append(live, s)
	}
	e.mu.Unlock()
	for _, s := range live {
		s.Close()
	}
	return e.closePorts()
}

// closePorts closes the muxes and with them their sockets.
func (e *Engine) closePorts() error {
	var errs []error
	for _, p := range e.ports {
		errs = append(errs, p.mux.Close())
	}
	return errors.Join(errs...)
}

// quietLoggerFactory keeps pion's own logging at errors only: its warnings
// (e.g. about the mux on an unspecified address) are not actionable here.
func quietLoggerFactory() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	return f
}
