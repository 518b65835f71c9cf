package mediasession

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/ice/v4"
	"github.com/pion/srtp/v3"
)

// connect brings the answered session up: ICE (controlling unless the bot
// is ICE-lite, as the offerer is in WebRTC), DTLS in the role the answer
// gave, the peer's SRTP keys, and then the route on the port, so that the
// peer's packets go straight from the socket to the tracks.
func (s *Session) connect(remote remoteParams) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ConnectTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	r := newRoute(nil, remote.ssrcs, remote.sending, s.cfg.OnTrack, &s.port.counters)
	r.levelIDs, r.levelID = remote.levelIDs, remote.levelID
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.route = r
	s.mu.Unlock()

	for _, c := range remote.candidates {
		_ = s.agent.AddRemoteCandidate(c)
	}
	var conn *ice.Conn
	var err error
	if s.engine.lite {
		conn, err = s.agent.Accept(ctx, remote.ufrag, remote.pwd)
	} else {
		conn, err = s.agent.Dial(ctx, remote.ufrag, remote.pwd)
	}
	if err != nil {
		s.fail("ICE failed: " + err.Error())
		return
	}
	secure, err := s.handshake(ctx, &dtlsPacketConn{conn: conn, early: r.addEarly}, remote)
	if err != nil {
		s.fail("DTLS failed: " + err.Error())
		return
	}
	keys, own, err := srtpContexts(secure, remote.dtlsClient)
	if err != nil {
		_ = secure.Close()
		s.fail(err.Error())
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = secure.Close()
		return
	}
	r.srtp = keys
	s.dtls = secure
	rp := newReporter(r, own, s.port.WriteToAddrPort, s.engine.rtcpMinInterval)
	s.reporter = rp
	s.mu.Unlock()
	s.markConnected()
	peer := canonical(conn.RemoteAddr().(*net.UDPAddr).AddrPort())
	s.port.addRoute(peer, r)
	rp.start(peer)
	// A peer that moves to another candidate pair keeps its route, and
	// its reports follow it.
	_ = s.agent.OnSelectedCandidatePairChange(func(_, to ice.Candidate) {
		addr, err := netipAddrPort(to)
		if err == nil {
			s.port.addRoute(addr, r)
			rp.setPeer(canonical(addr))
		}
	})
	cancel() // ends the goroutine that ties the set-up to close
	s.watchDTLS(secure)
}

// handshake runs DTLS over the ICE connection and checks the peer's
// certificate against the answer's fingerprint.
func (s *Session) handshake(ctx context.Context, pc *dtlsPacketConn, remote remoteParams) (*dtls.Conn, error) {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no certificate")
		}
		cert, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		got, err := fingerprint.Fingerprint(cert, remote.fingerprintHash)
		if err != nil {
			return err
		}
		if !strings.EqualFold(got, remote.fingerprint) {
			return errors.New("certificate does not match the answer's fingerprint")
		}
		return nil
	}
	shared := []dtls.Option{
		dtls.WithCertificates(s.engine.cert.cert),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), // self-signed: the fingerprint is the check
		dtls.WithVerifyPeerCertificate(verify),
		dtls.WithLoggerFactory(quietLoggerFactory()),
	}
	var (
		conn *dtls.Conn
		err  error
	)
	raddr := pc.conn.RemoteAddr()
	if remote.dtlsClient {
		opts := make([]dtls.ClientOption, 0, len(shared))
		for _, o := range shared {
			opts = append(opts, o)
		}
		conn, err = dtls.ClientWithOptions(pc, raddr, opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(shared)+1)
		for _, o := range shared {
			opts = append(opts, o)
		}
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert))
		conn, err = dtls.ServerWithOptions(pc, raddr, opts...)
	}
	if err != nil {
		return nil, err
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// srtpContexts derives the SRTP keys from the handshake (RFC 5764): the
// peer's, which decrypt what it sends, and the bot's own, which protect its
// RTCP.
func srtpContexts(conn *dtls.Conn, isClient bool) (peer, own *srtp.Context, err error) {
	profile, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, nil, errors.New("DTLS: no SRTP profile negotiated")
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, nil, errors.New("DTLS: no connection state")
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return nil, nil, fmt.Errorf("SRTP keys: %w", err)
	}
	if peer, err = receiveContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile); err != nil {
		return nil, nil, fmt.Errorf("SRTP context: %w", err)
	}
	if own, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile); err != nil {
		return nil, nil, fmt.Errorf("SRTP context: %w", err)
	}
	return peer, own, nil
}

// replayWindow is how many packets back a replay is recognised (RFC 3711
// §3.3.2), pion's default; the streams' reorder buffers look as far back.
const replayWindow = 64

// receiveContext decrypts and authenticates the peer's SRTP and SRTCP,
// refusing replays.
func receiveContext(key, salt []byte, profile srtp.ProtectionProfile) (*srtp.Context, error) {
	return srtp.CreateContext(key, salt, profile, srtp.SRTPReplayProtection(replayWindow), srtp.SRTCPReplayProtection(replayWindow))
}

// watchDTLS reads the DTLS connection until the peer closes it (or it
// fails): the end of the media leg. Nothing else travels on it.
func (s *Session) watchDTLS(conn *dtls.Conn) {
	buf := make([]byte, 1500)
	for {
		if _, err := conn.Read(buf); err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				continue
			}
			s.fail("DTLS closed")
			return
		}
	}
}

// netipAddrPort is a candidate's transport address.
func netipAddrPort(c ice.Candidate) (netip.AddrPort, error) {
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addr, uint16(c.Port())), nil
}
