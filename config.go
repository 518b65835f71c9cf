package mediabot

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot/internal/netaddr"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Config is the library's settings of a bot. A zero field means the
// default of DefaultConfig, with no exception: the zero Config is the
// default one. What only the mediabot command has (listen addresses,
// sinks, the operator API's token, redirect targets) reaches the bot
// through options (WithSink, WithPolicy, WithAdminToken).
type Config struct {
	// PublicURL is the base URL (with any path prefix Handler is mounted
	// under) by which Graph and the media processor reach this instance. It
	// builds every callbackUri and blob answerUri.
	PublicURL string
	// InstanceID names this instance in callbackUris and logs.
	InstanceID string

	// Cloud picks Graph's and the login hosts: global, usgov, usgovdod, china.
	Cloud string
	// GraphURL overrides the cloud's Graph base, e.g. http://127.0.0.1:9450/v1.0.
	GraphURL string
	// TokenURL overrides the client-credentials endpoint; "{tenant}" in it
	// is replaced by the call's tenant.
	TokenURL string
	// TenantID, ClientID and ClientSecret are the app registration. ClientID
	// is also the audience inbound notification tokens must carry.
	TenantID, ClientID, ClientSecret string
	// ClientCertificateFile and ClientKeyFile are a certificate credential
	// of the app registration, used instead of ClientSecret when set: a PEM
	// certificate (the one uploaded to the app) and its PEM private key
	// (RSA, PKCS#1 or PKCS#8; may be the same file). Tokens are then
	// requested with a client assertion signed by that key. Set both or
	// neither; they are read once, when the bot is made.
	ClientCertificateFile, ClientKeyFile string

	// InboundJWKSURL is where the keys of inbound notification tokens are;
	// InboundOpenIDURL discovers them instead.
	InboundJWKSURL, InboundOpenIDURL string
	// InboundIssuers are the accepted issuers of notification tokens.
	InboundIssuers []string
	// InsecureSkipInboundAuth accepts unsigned notifications; refused unless
	// PublicURL names a loopback host.
	InsecureSkipInboundAuth bool

	// MediaPort is the UDP port of all media (0 = any free).
	MediaPort int
	// MediaPorts is how many consecutive ports from MediaPort share the
	// media, when one socket's reader is the limit (needs a fixed MediaPort).
	MediaPorts int
	// MediaBindIP is the local address of the media socket ("" = all).
	MediaBindIP string
	// MediaPublicIP replaces the address of host candidates (1:1 NAT).
	MediaPublicIP string
	// ICELite answers as an ICE-lite agent.
	ICELite bool
	// AudioSections is the number of audio sections in each offer (>= 4).
	AudioSections int
	// SampleRate is the PCM rate delivered: 16000 or 48000.
	SampleRate int
	// DeltaRoster asks Graph for delta rosters (isDeltaRosterEnabled): only
	// the participants that changed; a gap in their sequence numbers
	// rebuilds the roster from GET .../participants.
	DeltaRoster bool
	// Mix also delivers a mixed track per call (participant id "mixed").
	Mix bool
	// NoSharingNotifications stops asking Graph for content-sharing
	// notifications (asked by default).
	NoSharingNotifications bool

	// ApplicationInstanceID is the bot's application instance (the
	// resource account holding its phone number): Graph needs it as the
	// source of a call to a phone number.
	ApplicationInstanceID string
	// LobbyTimeout is how long a call the bot placed may wait in a
	// meeting's lobby to be admitted before the bot gives up and leaves.
	LobbyTimeout time.Duration
	// MaxCalls is the number of live calls from which incoming calls are
	// rejected busy and Join refuses (0 = no limit).
	MaxCalls int
	// HandoffURL, when set, is where incoming calls are sent (307) while
	// this instance is full, overloaded or draining, instead of busy.
	HandoffURL string
	// AnswerWindow is Graph's time limit to answer an incoming call,
	// measured from the notification's arrival.
	AnswerWindow time.Duration
	// PolicyRecordingWindow is Graph's shorter answer window for
	// policy-based recording invitations.
	PolicyRecordingWindow time.Duration
	// ParticipantCapacity is sent as participantCapacity when answering a
	// policy-based recording invitation (0 = not sent).
	ParticipantCapacity int
	// MediaConnectTimeout bounds answer-to-media-connected.
	MediaConnectTimeout time.Duration
	// MediaIdleTimeout ends an established call whose media has carried no
	// packet for this long (Teams sends DTX refreshes even in silence).
	MediaIdleTimeout time.Duration
	// KeepAliveInterval is how often live calls are kept alive.
	KeepAliveInterval time.Duration
	// DrainTimeout is how long Run waits for live calls after its context
	// ends before it hangs them up.
	DrainTimeout time.Duration
}

// DefaultConfig is the configuration of a bot nobody configured.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		PublicURL:             "http://127.0.0.1:9440",
		InstanceID:            host,
		Cloud:                 "global",
		InboundIssuers:        signaling.GraphIssuers(),
		MediaPorts:            1,
		AudioSections:         4,
		SampleRate:            16000,
		AnswerWindow:          15 * time.Second,
		PolicyRecordingWindow: 5 * time.Second,
		MediaConnectTimeout:   15 * time.Second,
		MediaIdleTimeout:      2 * time.Minute,
		KeepAliveInterval:     15 * time.Minute,
		DrainTimeout:          30 * time.Second,
		LobbyTimeout:          5 * time.Minute,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.PublicURL = strings.TrimRight(cmp.Or(c.PublicURL, d.PublicURL), "/")
	c.InstanceID = cmp.Or(c.InstanceID, d.InstanceID)
	c.Cloud = cmp.Or(c.Cloud, d.Cloud)
	if len(c.InboundIssuers) == 0 {
		c.InboundIssuers = d.InboundIssuers
	}
	c.MediaPorts = cmp.Or(c.MediaPorts, d.MediaPorts)
	c.AudioSections = cmp.Or(c.AudioSections, d.AudioSections)
	c.SampleRate = cmp.Or(c.SampleRate, d.SampleRate)
	c.AnswerWindow = cmp.Or(c.AnswerWindow, d.AnswerWindow)
	c.PolicyRecordingWindow = cmp.Or(c.PolicyRecordingWindow, d.PolicyRecordingWindow)
	c.MediaConnectTimeout = cmp.Or(c.MediaConnectTimeout, d.MediaConnectTimeout)
	c.MediaIdleTimeout = cmp.Or(c.MediaIdleTimeout, d.MediaIdleTimeout)
	c.KeepAliveInterval = cmp.Or(c.KeepAliveInterval, d.KeepAliveInterval)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, d.DrainTimeout)
	c.LobbyTimeout = cmp.Or(c.LobbyTimeout, d.LobbyTimeout)
	return c
}

// validate reports every setup mistake at once, so the bot fails at start,
// never mid-call.
func (c Config) validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required (--client-id): it is the bot's app id and the audience of Graph's tokens"))
	}
	switch {
	case (c.ClientCertificateFile == "") != (c.ClientKeyFile == ""):
		errs = append(errs, errors.New("client certificate and client key go together (--client-certificate, --client-key): set both or neither"))
	case c.ClientSecret == "" && c.ClientCertificateFile == "":
		errs = append(errs, errors.New("no client credential: set --client-secret, or --client-certificate with --client-key (without one every call fails at Graph's token endpoint)"))
	}
	if c.SampleRate != 16000 && c.SampleRate != 48000 {
		errs = append(errs, fmt.Errorf("sample rate %d (--sample-rate): want 16000 or 48000", c.SampleRate))
	}
	if c.AudioSections < 4 {
		errs = append(errs, fmt.Errorf("audio sections %d (--audio-sections): at least 4 are needed", c.AudioSections))
	}
	switch {
	case c.MediaPort < 0 || c.MediaPort > 65535:
		errs = append(errs, fmt.Errorf("media port %d (--media-port) is out of range", c.MediaPort))
	case c.MediaPorts < 1 || c.MediaPort+c.MediaPorts-1 > 65535:
		errs = append(errs, fmt.Errorf("media ports %d (--media-ports): want 1 or more, ending at 65535 at most", c.MediaPorts))
	case c.MediaPorts > 1 && c.MediaPort == 0:
		errs = append(errs, fmt.Errorf("--media-ports %d needs a fixed first port (--media-port)", c.MediaPorts))
	}
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("public URL %q (--public-url) is not an http(s) URL", c.PublicURL))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("public URL %q (--public-url) has a query, fragment or user: it is a base URL, paths are added to it", c.PublicURL))
	case u.Hostname() == "0.0.0.0" || u.Hostname() == "::":
		errs = append(errs, fmt.Errorf("public URL %q is not an address Graph can call back: set --public-url to the URL Graph reaches this instance by", c.PublicURL))
	case c.InsecureSkipInboundAuth && !netaddr.IsLoopback(u.Host):
		errs = append(errs, fmt.Errorf("--insecure-skip-inbound-auth is refused for a bot reached from outside loopback (%s)", c.PublicURL))
	}
	if _, err := signaling.CloudByName(c.Cloud); err != nil && (c.GraphURL == "" || c.TokenURL == "") {
		errs = append(errs, fmt.Errorf("%w (--cloud)", err))
	}
	return errors.Join(errs...)
}
