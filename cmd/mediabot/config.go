package main

import (
	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
)

// botFlags defines the flags of CONTRACT §1 that fill a mediabot.Config.
func botFlags(f *cli.Flags, c *mediabot.Config, tls *[2]string) {
	d := mediabot.DefaultConfig()
	f.String(&c.Listen, "listen", d.Listen, "HTTP(S) listen address: webhook, media answer endpoint, health")
	f.String(&c.PublicURL, "public-url", "", "base URL by which Graph and the media processor reach this instance (default http://<listen>)")
	f.String(&c.InstanceID, "instance-id", d.InstanceID, "this instance's name in callbackUris and logs")
	f.String(&tls[0], "tls-cert", "", "TLS certificate file: serve HTTPS")
	f.String(&tls[1], "tls-key", "", "TLS key file")
	f.String(&c.Cloud, "cloud", d.Cloud, "Graph cloud: global, usgov, usgovdod or china")
	f.String(&c.GraphURL, "graph-url", "", "Graph base URL, overrides --cloud (e.g. http://127.0.0.1:9450/v1.0)")
	f.String(&c.TokenURL, "token-url", "", "OAuth2 token endpoint, overrides --cloud; {tenant} is replaced")
	f.String(&c.TenantID, "tenant-id", "", "tenant of the app registration (default tenant for tokens)")
	f.String(&c.ClientID, "client-id", "", "app (client) id: client credentials, and the audience of Graph's tokens")
	f.String(&c.ClientSecret, "client-secret", "", "client secret")
	f.String(&c.ClientCertificateFile, "client-certificate", "", "PEM certificate of the app, used instead of --client-secret (needs --client-key)")
	f.String(&c.ClientKeyFile, "client-key", "", "PEM RSA private key of --client-certificate (PKCS#1 or PKCS#8)")
	f.String(&c.InboundJWKSURL, "inbound-jwks-url", "", "keys of inbound notification JWTs")
	f.String(&c.InboundOpenIDURL, "inbound-openid-url", "", "OpenID configuration to discover those keys (default Microsoft's)")
	f.List(&c.InboundIssuers, "inbound-issuers", d.InboundIssuers, "accepted issuers of notification JWTs")
	f.Bool(&c.InsecureSkipInboundAuth, "insecure-skip-inbound-auth", false, "accept unsigned notifications (loopback listeners only)")
	f.Int(&c.MediaPort, "media-port", 0, "UDP port that carries all media (0 = any free)")
	f.Int(&c.MediaPorts, "media-ports", 1, "consecutive media ports from --media-port")
	f.String(&c.MediaBindIP, "media-bind-ip", "", "local address of the media socket (default all)")
	f.String(&c.MediaPublicIP, "media-public-ip", "", "public IP advertised in host candidates (1:1 NAT); 127.0.0.1 on loopback")
	f.Bool(&c.ICELite, "ice-lite", false, "answer as an ICE-lite agent (hosts with a public address)")
	f.Int(&c.AudioSections, "audio-sections", d.AudioSections, "audio sections in each offer (at least 4)")
	f.Int(&c.SampleRate, "sample-rate", d.SampleRate, "PCM rate delivered to sinks: 16000 or 48000")
	f.Bool(&c.Mix, "mix", false, "also deliver a mixed track per call")
	f.Bool(&c.DeltaRoster, "delta-roster", false, "ask Graph for delta rosters (a gap in them rebuilds the roster)")
	f.Bool(&c.SharingNotifications, "sharing-notifications", true, "ask Graph for content-sharing notifications")
	f.String(&c.OutDir, "out-dir", d.OutDir, "file sink folder (WAV + events.jsonl per call); empty turns it off")
	f.Int(&c.RetentionDays, "retention-days", 0, "delete call folders of the file sink this many days after their last write (0 = keep forever)")
	f.String(&c.NATSURL, "nats-url", "", "also publish audio and events to NATS JetStream (e.g. nats://127.0.0.1:4222)")
	f.String(&c.NATSStream, "nats-stream", d.NATSStream, "JetStream stream for audio and events, created when missing")
	f.Int(&c.MaxCalls, "max-calls", 0, "live calls above which incoming calls are rejected busy (0 = no limit)")
	f.Int(&c.ParticipantCapacity, "participant-capacity", 0, "participantCapacity for policy-based recording answers")
	f.List(&c.RedirectTargets, "redirect-targets", nil, "redirect calls the policy does not answer there")
	f.String(&c.HandoffURL, "handoff-url", "", "307 incoming calls there when full or draining")
	f.Duration(&c.KeepAliveInterval, "keepalive-interval", d.KeepAliveInterval, "how often live calls are kept alive")
	f.Duration(&c.DrainTimeout, "drain-timeout", d.DrainTimeout, "how long SIGTERM waits for live calls")
	f.String(&c.AdminToken, "admin-token", "", "bearer token of the operator API (/v1/calls, not served in this version)")
}
