package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this binary as the mediabot command.
func TestMain(m *testing.M) {
	if os.Getenv("MEDIABOT_RUN_MAIN") == "1" {
		os.Args = append([]string{"mediabot"}, strings.Fields(os.Getenv("MEDIABOT_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MEDIABOT_RUN_MAIN=1", "MEDIABOT_ARGS="+strings.Join(args, " "))
	return cmd
}

var readyLine = regexp.MustCompile(`msg=ready http_addr=(\S+) (?:ops_addr=(\S+) )?media_port=(\d+)`)

// ready is what serve's ready line says.
type ready struct{ line, addr, opsAddr, mediaPort string }

// startServe runs `mediabot serve` on loopback against an unreachable
// Graph, with env and more flags, and waits for its ready line; the
// process is killed when the test ends, and its log is read to the end.
func startServe(t *testing.T, env []string, flags ...string) (*exec.Cmd, ready) {
	t.Helper()
	cmd := command(t, append([]string{"serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--client-id", "app", "--client-secret", "s",
		"--graph-url", "http://127.0.0.1:1/v1.0", "--token-url", "http://127.0.0.1:1/token",
		"--inbound-jwks-url", "http://127.0.0.1:1/keys", "--media-bind-ip", "127.0.0.1"}, flags...)...)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	found := make(chan ready, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil && len(found) == 0 {
				found <- ready{line: sc.Text(), addr: m[1], opsAddr: m[2], mediaPort: m[3]}
			}
		}
	}()
	select {
	case r := <-found:
		return cmd, r
	case <-time.After(20 * time.Second):
		t.Fatal("no ready line")
	}
	return nil, ready{}
}

// serve logs one ready line with the bound addresses, answers /readyz, and
// exits 0 on SIGTERM.
func TestServeReadyThenDrainsOnSIGTERM(t *testing.T) {
	cmd, ready := startServe(t, []string{"MEDIABOT_DRAIN_TIMEOUT=1s"}, "--out-dir", t.TempDir())
	addr := ready.addr
	if ready.mediaPort == "0" {
		t.Errorf("media_port 0 in the ready line: want the bound port")
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15 s after SIGTERM")
	}
}

// Mistakes fail at start with a message that names them.
func TestServeRefusesBadSettings(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"unknown flag", []string{"serve", "--no-such-flag"}, "", "no-such-flag"},
		{"missing client id", []string{"serve", "--listen", "127.0.0.1:0"}, "", "client id is required"},
		{"bad sample rate", []string{"serve", "--listen", "127.0.0.1:0", "--client-id", "a", "--sample-rate", "8000"}, "", "sample rate 8000"},
		{"bad record format", []string{"serve", "--listen", "127.0.0.1:0", "--client-id", "a", "--record-format", "mp3"}, "", `--record-format "mp3": want wav or opus`},
		{"bad env value", []string{"serve"}, "MEDIABOT_MEDIA_PORT=abc", "MEDIABOT_MEDIA_PORT"},
		{"insecure on a public listener", []string{"serve", "--listen", "0.0.0.0:0", "--client-id", "a", "--insecure-skip-inbound-auth"}, "", "refused on a non-loopback"},
		{"unreachable nats", []string{"serve", "--listen", "127.0.0.1:0", "--client-id", "a", "--inbound-jwks-url", "http://127.0.0.1:1/keys",
			"--nats-url", "nats://127.0.0.1:1"}, "MEDIABOT_OUT_DIR=", "nats://127.0.0.1:1"},
		{"unknown command", []string{"fly"}, "", "unknown command"},
		{"no credential", []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen=", "--client-id", "a"}, "", "no client credential: set --client-secret, or --client-certificate with --client-key"},
		{"missing TLS files", []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen=", "--client-id", "a", "--client-secret", "s",
			"--tls-cert", "missing.crt", "--tls-key", "missing.key"}, "", "--tls-cert missing.crt, --tls-key missing.key"},
		{"unroutable callback", []string{"serve", "--listen", "0.0.0.0:0", "--ops-listen=", "--client-id", "a", "--client-secret", "s"}, "",
			"is not an address Graph can call back: set --public-url"},
		{"public URL with a query", []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen=", "--client-id", "a", "--client-secret", "s",
			"--public-url", "https://bot.example.com/?x=1"}, "", "has a query"},
		{"media ports without a first port", []string{"serve", "--listen", "127.0.0.1:0", "--ops-listen=", "--client-id", "a", "--client-secret", "s",
			"--media-ports", "2"}, "", "--media-ports 2 needs a fixed first port (--media-port)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command(t, tc.args...)
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want a failure; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if strings.Contains(string(out), "mediabot: mediabot:") || strings.Contains(string(out), "msg=ready") {
				t.Errorf("a doubled prefix, or ready before failing:\n%s", out)
			}
		})
	}
}

// serve has two listeners: the public one serves Graph's routes and the
// probes only, the operations one the metrics and the status page; --ops-listen
// "" turns the operations listener off.
func TestServeSplitsPublicAndOperations(t *testing.T) {
	_, ready := startServe(t, nil, "--out-dir", t.TempDir())
	if ready.opsAddr == "" || ready.opsAddr == ready.addr {
		t.Fatalf("ready line %q: want an ops_addr of its own", ready.line)
	}
	for _, tc := range []struct {
		addr, path string
		want       int
	}{
		{ready.addr, "/metrics", http.StatusNotFound},
		{ready.addr, "/status.json", http.StatusNotFound},
		{ready.addr, "/readyz", http.StatusOK},
		{ready.opsAddr, "/metrics", http.StatusOK},
		{ready.opsAddr, "/status.json", http.StatusOK},
		{ready.opsAddr, "/readyz", http.StatusOK},
	} {
		resp, err := http.Get("http://" + tc.addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s%s: %d, want %d", tc.addr, tc.path, resp.StatusCode, tc.want)
		}
	}
	_, off := startServe(t, nil, "--out-dir", t.TempDir(), "--ops-listen=")
	if off.opsAddr != "" {
		t.Errorf("ready line %q: an ops_addr with --ops-listen empty", off.line)
	}
}

// Secrets set by environment never show: not in -h, not in the one line a
// flag typo prints.
func TestSecretsStayOutOfUsageAndErrors(t *testing.T) {
	secrets := map[string]string{"MEDIABOT_CLIENT_SECRET": "TopSecret-Value", "MEDIABOT_ADMIN_TOKEN": "Adm1n-Tok3n-Value",
		"MEDIABOT_NATS_URL": "nats://user:NatsPassw0rd@127.0.0.1:1"}
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--no-such-flag"}, {"join", "-h"}, {"join", "--no-such-flag"}} {
		cmd := command(t, args...)
		for k, v := range secrets {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, _ := cmd.CombinedOutput()
		for _, v := range secrets {
			if strings.Contains(string(out), v) {
				t.Errorf("mediabot %s shows a secret:\n%s", strings.Join(args, " "), out)
			}
		}
		if args[1] == "-h" && !strings.Contains(string(out), "(set by MEDIABOT_ADMIN_TOKEN)") {
			t.Errorf("mediabot %s does not say the admin token is set:\n%s", strings.Join(args, " "), out)
		}
		if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; args[1] != "-h" && lines != 1 {
			t.Errorf("mediabot %s: %d lines for a typo, want one:\n%s", strings.Join(args, " "), lines, out)
		}
	}
}
