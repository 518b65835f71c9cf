// Package natstest runs a real NATS server with JetStream in-process for
// the project's tests: no mock, the server the nats-server module ships.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start runs a server on 127.0.0.1:port (-1: any free port) storing under
// dir; it is shut down when the test ends. Starting a new one on the same
// port and dir is a restart.
func Start(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	return StartWith(t, &server.Options{Port: port, StoreDir: dir})
}

// StartWith runs a server with opts (users, nkeys, trusted operators...),
// on 127.0.0.1 with JetStream, quiet, and port -1 (any free port) unless
// they say otherwise; it is shut down when the test ends.
func StartWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	o := *opts
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	o.JetStream, o.NoLog, o.NoSigs = true, true, true
	srv, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// JetStream connects a test client to the server at url (with opts: its
// credentials); the connection is closed when the test ends.
func JetStream(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
