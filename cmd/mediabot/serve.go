package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/internal/netaddr"
	"github.com/mediabot-dev/mediabot/sink"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

func serve(args []string) error {
	f := cli.NewFlags("mediabot serve", "MEDIABOT")
	var cfg mediabot.Config
	var s serveSettings
	serveFlags(f, &cfg, &s)
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	publicTLS, err := loadKeyPair(s.tlsCert, s.tlsKey, "--tls-cert", "--tls-key")
	if err != nil {
		return err
	}
	opsTLS, err := loadKeyPair(s.opsTLSCert, s.opsTLSKey, "--ops-tls-cert", "--ops-tls-key")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	public, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer public.Close()
	var ops net.Listener
	if s.opsListen != "" {
		if ops, err = net.Listen("tcp", s.opsListen); err != nil {
			return fmt.Errorf("--ops-listen: %w", err)
		}
		defer ops.Close()
	}
	cfg.NoSharingNotifications = !s.sharingNotifications
	if cfg.PublicURL == "" {
		scheme := "http://"
		if s.tlsCert != "" {
			scheme = "https://"
		}
		cfg.PublicURL = scheme + public.Addr().String()
	}
	opts, err := s.options(cfg, log)
	if err != nil {
		return err
	}
	bot, err := mediabot.New(cfg, opts...)
	if err != nil {
		return err
	}
	served := make(chan error, 2)
	servers := []*http.Server{listen(public, bot.Handler(), publicTLS, served)}
	attrs := []any{"http_addr", public.Addr().String()}
	if ops != nil {
		servers = append(servers, listen(ops, bot.OpsHandler(), opsTLS, served))
		attrs = append(attrs, "ops_addr", ops.Addr().String())
	}
	ports := bot.MediaPorts()
	attrs = append(attrs, "media_port", ports[0])
	if len(ports) > 1 {
		attrs = append(attrs, "media_ports", fmt.Sprint(ports))
	}
	if cores := runtime.NumCPU(); len(ports) < cores {
		// A port's one reader decrypts and decodes its packets: one core.
		log.Warn("fewer media ports than cores: the bot decodes on at most one core per port",
			"media_ports", len(ports), "cores", cores, "want", fmt.Sprintf("--media-port <first> --media-ports %d", cores))
	}
	// Signals are caught before the ready line: a SIGTERM that follows it
	// drains.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Info("ready", append(attrs, "public_url", cfg.PublicURL)...)
	runErr := make(chan error, 1)
	go func() { runErr <- bot.Run(ctx) }()
	select {
	case err := <-served:
		stop()
		<-runErr
		return err
	case err := <-runErr:
		log.Info("drained; stopping")
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(shutCtx)
		}
		return err
	}
}

// check refuses settings that go together only in pairs or in range.
func (s *serveSettings) check() error {
	var errs []error
	if (s.tlsCert == "") != (s.tlsKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if (s.opsTLSCert == "") != (s.opsTLSKey == "") {
		errs = append(errs, errors.New("--ops-tls-cert and --ops-tls-key go together"))
	}
	if s.recordFormat != "wav" && s.recordFormat != "opus" {
		errs = append(errs, fmt.Errorf("--record-format %q: want wav or opus", s.recordFormat))
	}
	if s.retentionDays < 0 {
		errs = append(errs, fmt.Errorf("--retention-days %d: want 0 (keep forever) or more", s.retentionDays))
	}
	return errors.Join(errs...)
}

// options are the bot's options from the command's own settings: its
// sinks, the operator API's token, the redirect targets.
func (s *serveSettings) options(cfg mediabot.Config, log *slog.Logger) ([]mediabot.Option, error) {
	if cfg.InsecureSkipInboundAuth && !netaddr.IsLoopback(s.listen) {
		return nil, fmt.Errorf("--insecure-skip-inbound-auth is refused on a non-loopback listener (%s)", s.listen)
	}
	opts := []mediabot.Option{mediabot.WithLogger(log), mediabot.WithAdminToken(s.adminToken)}
	rate := cfg.SampleRate
	if rate == 0 {
		rate = mediabot.DefaultConfig().SampleRate
	}
	var files *sink.FileSink
	if s.outDir != "" {
		var format []sink.FileOption
		if s.recordFormat == "opus" {
			format = append(format, sink.RecordOpus())
		}
		fs, err := sink.NewFileSink(s.outDir, rate, log, format...)
		if err != nil {
			return nil, fmt.Errorf("--out-dir: %w", err)
		}
		if s.retentionDays > 0 {
			fs.StartRetention(time.Duration(s.retentionDays)*24*time.Hour, 0)
		}
		files = fs
		opts = append(opts, mediabot.WithSink(fs))
	}
	if s.natsURL != "" {
		ns, err := s.natsSink(cfg.InstanceID, rate, log)
		if err != nil {
			if files != nil {
				_ = files.Close()
			}
			return nil, err
		}
		opts = append(opts, mediabot.WithSink(ns))
	}
	if len(s.redirectTargets) > 0 {
		opts = append(opts, mediabot.WithPolicy(mediabot.DefaultPolicy(cfg.MaxCalls, mediabot.ParseTargets(s.redirectTargets, cfg.TenantID)...)))
	}
	return opts, nil
}

// loadKeyPair loads a listener's certificate and key (nil, nil without
// them), so that a missing or mismatched file fails at start naming its
// flags, before the bot says it is ready.
func loadKeyPair(cert, key, certFlag, keyFlag string) (*tls.Config, error) {
	if cert == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("%s %s, %s %s: %w", certFlag, cert, keyFlag, key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// listen serves h on ln (HTTPS with a TLS config), reporting its end on
// served.
func listen(ln net.Listener, h http.Handler, tlsConfig *tls.Config, served chan<- error) *http.Server {
	srv := &http.Server{
		TLSConfig:         tlsConfig,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	return srv
}

// natsSink makes the NATS sink of the --nats-* flags.
func (s *serveSettings) natsSink(instanceID string, rate int, log *slog.Logger) (*nats.Sink, error) {
	maxBytes, err := nats.ParseMaxBytes(s.natsMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("--nats-max-bytes: %w", err)
	}
	maxAge := s.natsMaxAge
	if maxAge <= 0 {
		maxAge = -1 // no age limit
	}
	ns, err := nats.New(nats.Config{URL: s.natsURL, Stream: s.natsStream, InstanceID: instanceID, SampleRate: rate, Logger: log,
		CredsFile: s.natsCreds, NkeyFile: s.natsNkey, MaxAge: maxAge, MaxBytes: maxBytes})
	if err != nil {
		return nil, fmt.Errorf("--nats-url: %w", err)
	}
	return ns, nil
}
