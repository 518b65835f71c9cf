// Package mediabottest runs a bot against graphsim on loopback, for tests
// and examples, as httptest.NewServer runs a handler: one call to Start,
// real HTTP listeners, real UDP media ports, and Close.
package mediabottest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/sink"
)

// The app registration of the graphsim Start makes when given none.
const (
	TenantID     = "11111111-2222-3333-4444-555555555555"
	ClientID     = "0b0b0b0b-1111-2222-3333-444444444444"
	ClientSecret = "graphsim-secret"
)

// Options shape the bot Start runs. The zero value is a bot with the
// default configuration against a new graphsim, with no sink.
type Options struct {
	// Sim is the graphsim the bot talks to; nil starts one, which Close
	// closes.
	Sim *graphsim.Sim
	// Configure changes the bot's configuration before the bot is made
	// (Graph's URLs and the app registration are set already).
	Configure func(*mediabot.Config)
	// OutDir, when set, gives the bot a file sink writing there; with
	// RecordOpus, Opus streams go to Ogg Opus files, not decoded.
	OutDir     string
	RecordOpus bool
	// Logger is the bot's and the new graphsim's; nil discards.
	Logger *slog.Logger
	// BotOptions are passed on to mediabot.New.
	BotOptions []mediabot.Option
}

// Server is a running bot: its public listener (Graph's webhook, the media
// answer endpoint) and its operations listener, both on 127.0.0.1.
type Server struct {
	Bot *mediabot.Bot
	Sim *graphsim.Sim
	// Config is the configuration the bot was made with.
	Config mediabot.Config
	// URL is the public listener's base URL; Webhook is its notification
	// URL, what a graphsim.Scenario's BotURL names.
	URL, Webhook string
	// OpsURL is the operations listener's base URL (/status, /metrics,
	// /v1/calls).
	OpsURL string
	// OutDir is the file sink's folder, "" without one (Options.OutDir).
	OutDir string

	ownSim  bool
	servers []*http.Server
	cancel  context.CancelFunc
	ran     chan error
	stop    sync.Once
	runErr  error
}

// Start runs a bot shaped by o until Stop or Close.
func Start(o Options) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{Sim: o.Sim, OutDir: o.OutDir}
	if s.Sim == nil {
		sim, err := graphsim.Start(graphsim.Config{TenantID: TenantID, ClientID: ClientID, ClientSecret: ClientSecret, Logger: log})
		if err != nil {
			return nil, err
		}
		s.Sim, s.ownSim = sim, true
	}
	public, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, s.closeAll(err)
	}
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		public.Close()
		return nil, s.closeAll(err)
	}
	s.URL, s.OpsURL = "http://"+public.Addr().String(), "http://"+ops.Addr().String()
	s.Webhook = s.URL + "/api/calls"
	cfg := mediabot.DefaultConfig()
	cfg.PublicURL = s.URL
	cfg.InstanceID = "test"
	cfg.GraphURL, cfg.TokenURL, cfg.InboundJWKSURL = s.Sim.GraphURL(), s.Sim.TokenURL(), s.Sim.JWKSURL()
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = s.Sim.App()
	cfg.MediaBindIP, cfg.MediaPublicIP = "127.0.0.1", "127.0.0.1"
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	s.Config = cfg
	opts := append([]mediabot.Option{mediabot.WithLogger(log)}, o.BotOptions...)
	if o.OutDir != "" {
		var format []sink.FileOption
		if o.RecordOpus {
			format = append(format, sink.RecordOpus())
		}
		fs, err := sink.NewFileSink(o.OutDir, cfg.SampleRate, log, format...)
		if err != nil {
			public.Close()
			ops.Close()
			return nil, s.closeAll(err)
		}
		opts = append(opts, mediabot.WithSink(fs))
	}
	bot, err := mediabot.New(cfg, opts...)
	if err != nil {
		public.Close()
		ops.Close()
		return nil, s.closeAll(err)
	}
	s.Bot = bot
	s.serve(public, bot.Handler())
	s.serve(ops, bot.OpsHandler())
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.ran = cancel, make(chan error, 1)
	go func() { s.ran <- bot.Run(ctx) }()
	return s, nil
}

func (s *Server) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
}

// Stop ends the bot's Run, as SIGTERM does (a drain of Config.DrainTimeout
// at most), and returns Run's error. The listeners stay up until Close.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		s.cancel()
		s.runErr = <-s.ran
	})
	return s.runErr
}

// Close stops the bot, its listeners and the graphsim Start made, and
// returns Run's error.
func (s *Server) Close() error {
	err := s.Stop()
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	return s.closeAll(err)
}

// closeAll closes the graphsim Start made, if any, and returns err.
func (s *Server) closeAll(err error) error {
	if s.ownSim {
		s.ownSim = false
		return errors.Join(err, s.Sim.Close())
	}
	return err
}

// WaitIdle waits, at most d, until the bot holds no call (live or
// closing).
func (s *Server) WaitIdle(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		calls := s.Bot.Calls()
		if len(calls) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mediabottest: %d calls still held after %s", len(calls), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
