package mediasession

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
)

// dtlsCertificate is the engine's self-signed DTLS certificate and the
// fingerprint every offer names. One per process is enough: each handshake
// still makes fresh (ECDHE) keys, and the fingerprint only binds the
// signaling to the handshake.
type dtlsCertificate struct {
	cert        tls.Certificate
	fingerprint string // sha-256 in uppercase hex pairs, as a=fingerprint writes it
}

func newDTLSCertificate() (dtlsCertificate, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return dtlsCertificate{}, fmt.Errorf("DTLS certificate: %w", err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return dtlsCertificate{}, fmt.Errorf("DTLS certificate: %w", err)
	}
	fp, err := fingerprint.Fingerprint(x, crypto.SHA256)
	if err != nil {
		return dtlsCertificate{}, fmt.Errorf("DTLS certificate: %w", err)
	}
	// RFC 8122 §5: the fingerprint is 2UHEX pairs. pion writes lowercase;
	// Firefox's SDP parser refuses it ("Malformed fingerprint token").
	return dtlsCertificate{cert: cert, fingerprint: strings.ToUpper(fp)}, nil
}
