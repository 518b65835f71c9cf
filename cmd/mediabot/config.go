package main

import (
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

// serveSettings are what only the command has: where it listens, its
// sinks, the operator API's token, where calls it does not take go.
type serveSettings struct {
	listen, opsListen     string
	tlsCert, tlsKey       string
	opsTLSCert, opsTLSKey string
	outDir, recordFormat  string
	retentionDays         int
	natsURL, natsStream   string
	natsCreds, natsNkey   string
	natsMaxAge            time.Duration
	natsMaxBytes          string
	redirectTargets       []string
	adminToken            string
	sharingNotifications  bool
}

// serveFlags defines the flags of `mediabot serve` (the README's
// "Configuration" table): the bot's Config, and the command's own settings.
func serveFlags(f *cli.Flags, c *mediabot.Config, s *serveSettings) {
	d := mediabot.DefaultConfig()
	f.String(&s.listen, "listen", "127.0.0.1:9440", "public HTTP(S) listen address, what Graph and media processors reach: webhook, media answer endpoint, health")
	f.String(&s.opsListen, "ops-listen", "127.0.0.1:9441", `operations listen address, for your own network only: metrics, status page, operator API, health ("" turns it off)`)
	f.String(&c.PublicURL, "public-url", "", "base URL by which Graph and the media processor reach this instance (default http(s)://<listen>)")
	f.String(&c.InstanceID, "instance-id", d.InstanceID, "this instance's name in callbackUris and logs")
	f.String(&s.tlsCert, "tls-cert", "", "TLS certificate file of the public listener: serve HTTPS")
	f.String(&s.tlsKey, "tls-key", "", "TLS key file of the public listener")
	f.String(&s.opsTLSCert, "ops-tls-cert", "", "TLS certificate file of the operations listener (default plain HTTP)")
	f.String(&s.opsTLSKey, "ops-tls-key", "", "TLS key file of the operations listener")
	f.String(&c.Cloud, "cloud", d.Cloud, "Graph cloud: global, usgov, usgovdod or china")
	f.String(&c.GraphURL, "graph-url", "", "Graph base URL, overrides --cloud (e.g. http://127.0.0.1:9450/v1.0)")
	f.String(&c.TokenURL, "token-url", "", "OAuth2 token endpoint, overrides --cloud; {tenant} is replaced")
	f.String(&c.TenantID, "tenant-id", "", "tenant of the app registration (default tenant for tokens)")
	f.String(&c.ClientID, "client-id", "", "app (client) id: client credentials, and the audience of Graph's tokens")
	f.Secret(&c.ClientSecret, "client-secret", "client `secret` of the app registration")
	f.String(&c.ClientCertificateFile, "client-certificate", "", "PEM certificate of the app, used instead of --client-secret (needs --client-key)")
	f.String(&c.ClientKeyFile, "client-key", "", "PEM RSA private key of --client-certificate (PKCS#1 or PKCS#8)")
	f.String(&c.InboundJWKSURL, "inbound-jwks-url", "", "keys of inbound notification JWTs")
	f.String(&c.InboundOpenIDURL, "inbound-openid-url", "", "OpenID configuration to discover those keys (default Microsoft's)")
	f.List(&c.InboundIssuers, "inbound-issuers", d.InboundIssuers, "accepted issuers of notification JWTs")
	f.Bool(&c.InsecureSkipInboundAuth, "insecure-skip-inbound-auth", false, "accept unsigned notifications (loopback listeners only)")
	f.Int(&c.MediaPort, "media-port", 0, "UDP port that carries all media (0 = any free)")
	f.Int(&c.MediaPorts, "media-ports", d.MediaPorts, "consecutive media ports from --media-port")
	f.String(&c.MediaBindIP, "media-bind-ip", "", "local address of the media socket (default all)")
	f.String(&c.MediaPublicIP, "media-public-ip", "", "public IP advertised in host candidates (1:1 NAT); 127.0.0.1 on loopback")
	f.Bool(&c.ICELite, "ice-lite", false, "answer as an ICE-lite agent (hosts with a public address)")
	f.Int(&c.AudioSections, "audio-sections", d.AudioSections, "audio sections in each offer (at least 4)")
	f.Int(&c.SampleRate, "sample-rate", d.SampleRate, "PCM rate delivered to sinks: 16000 or 48000")
	f.Bool(&c.Mix, "mix", false, "also deliver a mixed track per call")
	f.Bool(&c.DeltaRoster, "delta-roster", false, "ask Graph for delta rosters (a gap in them rebuilds the roster)")
	f.Bool(&s.sharingNotifications, "sharing-notifications", true, "ask Graph for content-sharing notifications")
	f.String(&s.outDir, "out-dir", "./recordings", "file sink folder (audio, events.jsonl, speakers.rttm per call); empty turns it off")
	f.String(&s.recordFormat, "record-format", "wav", "the file sink's audio: wav (decoded PCM) or opus (Ogg Opus of the packets as received, not decoded)")
	f.Int(&s.retentionDays, "retention-days", 0, "delete call folders of the file sink this many days after their last write (0 = keep forever)")
	f.Secret(&s.natsURL, "nats-url", "also publish audio and events to NATS JetStream (e.g. nats://127.0.0.1:4222; it may hold credentials, so it is never shown)")
	f.String(&s.natsStream, "nats-stream", nats.DefaultStream, "JetStream stream for audio and events, created when missing")
	f.String(&s.natsCreds, "nats-creds", "", "NATS credentials file (user JWT and nkey seed) to publish with; credentials in --nats-url work too")
	f.String(&s.natsNkey, "nats-nkey", "", "file holding the seed of an nkey user to publish as (not with --nats-creds)")
	f.Duration(&s.natsMaxAge, "nats-max-age", nats.DefaultMaxAge, "max age of the stream the bot creates: older messages are discarded (0 = no age limit; an existing stream keeps its limits)")
	f.String(&s.natsMaxBytes, "nats-max-bytes", "10GiB", "max size of the stream the bot creates, e.g. 10GiB or 500MB: past it the oldest messages are discarded (0 or -1 = no limit; an existing stream keeps its limits)")
	f.Int(&c.MaxCalls, "max-calls", 0, "live calls from which incoming calls are rejected busy (0 = no limit)")
	f.Int(&c.ParticipantCapacity, "participant-capacity", 0, "participantCapacity for policy-based recording answers")
	f.List(&s.redirectTargets, "redirect-targets", nil, "redirect calls the policy does not answer there")
	f.String(&c.HandoffURL, "handoff-url", "", "307 incoming calls there when full or draining")
	f.Duration(&c.MediaIdleTimeout, "media-idle-timeout", d.MediaIdleTimeout, "hang up an established call whose media carried no packet for this long")
	f.Duration(&c.KeepAliveInterval, "keepalive-interval", d.KeepAliveInterval, "how often live calls are kept alive")
	f.Duration(&c.DrainTimeout, "drain-timeout", d.DrainTimeout, "how long SIGTERM waits for live calls")
	f.Secret(&s.adminToken, "admin-token", "bearer `token` of the operator API (/v1/calls); without one it answers loopback requests only")
	f.String(&c.ApplicationInstanceID, "application-instance-id", "", "the bot's application instance (resource account with a phone number): the source of calls to phone numbers")
	f.Duration(&c.LobbyTimeout, "lobby-timeout", d.LobbyTimeout, "how long a call the bot placed waits in a meeting lobby before it leaves")
}
