package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
)

func serve(args []string) error {
	f := cli.NewFlags("mediabot serve", "MEDIABOT")
	var cfg mediabot.Config
	var tls [2]string
	botFlags(f, &cfg, &tls)
	if err := f.Parse(args); err != nil {
		return err
	}
	if (tls[0] == "") != (tls[1] == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if cfg.PublicURL == "" {
		scheme := "http://"
		if tls[0] != "" {
			scheme = "https://"
		}
		cfg.PublicURL = scheme + ln.Addr().String()
	}
	bot, err := mediabot.New(cfg, mediabot.WithLogger(log))
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           bot.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() {
		if tls[0] != "" {
			served <- srv.ServeTLS(ln, tls[0], tls[1])
		} else {
			served <- srv.Serve(ln)
		}
	}()
	attrs := []any{"http_addr", ln.Addr().String(), "media_port", bot.MediaPort()}
	if ports := bot.MediaPorts(); len(ports) > 1 {
		attrs = append(attrs, "media_ports", fmt.Sprint(ports))
	}
	log.Info("ready", append(attrs, "public_url", cfg.PublicURL)...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
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
		_ = srv.Shutdown(shutCtx)
		return err
	}
}
