package nats

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/mediabot-dev/mediabot/internal/natstest"
)

// streamConfig is the configuration of the stream at url.
func streamConfig(t *testing.T, url string, opts ...natsgo.Option) jetstream.StreamConfig {
	t.Helper()
	js := natstest.JetStream(t, url, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().Config
}

func TestNATSCreatesTheStreamWithItsLimits(t *testing.T) {
	cases := []struct {
		name             string
		maxAge           time.Duration
		maxBytes         int64
		wantAge          time.Duration
		wantBytes        int64
		wantDuplicatesLE time.Duration
	}{
		{"defaults", 0, 0, 24 * time.Hour, 10 << 30, 2 * time.Minute},
		{"set", 90 * time.Minute, 1 << 20, 90 * time.Minute, 1 << 20, 2 * time.Minute},
		{"no limits", -1, -1, 0, -1, 2 * time.Minute},
		{"an age below the de-duplication window", 30 * time.Second, 1 << 20, 30 * time.Second, 1 << 20, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := natsServer(t, -1, t.TempDir())
			newTestNATS(t, srv.ClientURL(), func(c *Config) { c.MaxAge, c.MaxBytes = tc.maxAge, tc.maxBytes })
			got := streamConfig(t, srv.ClientURL())
			if got.MaxAge != tc.wantAge || got.MaxBytes != tc.wantBytes || got.Discard != jetstream.DiscardOld ||
				got.Duplicates <= 0 || got.Duplicates > tc.wantDuplicatesLE {
				t.Errorf("stream MaxAge %s MaxBytes %d Discard %s Duplicates %s, want %s, %d, DiscardOld, at most %s",
					got.MaxAge, got.MaxBytes, got.Discard, got.Duplicates, tc.wantAge, tc.wantBytes, tc.wantDuplicatesLE)
			}
		})
	}
}

// At its byte limit the stream discards its oldest messages: a consumer
// reading from the start finds a subject's Mediabot-Seq starting past 0.
func TestNATSStreamDiscardsTheOldestAtItsByteLimit(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	const limit = 256 << 10
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.MaxBytes = limit })
	call, pid := "57dab8b1-894c-409a-b240-bd8beae78896", "1f3c7a2e-0000-4000-8000-00000000000a"
	const frames = 1000 // about 1 MB
	for i := range frames {
		s.Frame(testFrame(call, pid, 1, i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	js := natstest.JetStream(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames kept, %d bytes: %d bytes a frame stored", info.State.Msgs, info.State.Bytes, info.State.Bytes/info.State.Msgs)
	if info.State.Bytes > limit || info.State.Msgs == 0 || info.State.Msgs >= frames {
		t.Fatalf("stream holds %d messages, %d bytes; limit %d bytes of %d frames", info.State.Msgs, info.State.Bytes, limit, frames)
	}
	first, err := st.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := first.Header.Get(HeaderSeq), strconv.Itoa(frames-int(info.State.Msgs)); got != want {
		t.Errorf("oldest kept frame has Mediabot-Seq %s, want %s: the oldest go first", got, want)
	}
	if got := last.Header.Get(HeaderSeq); got != strconv.Itoa(frames-1) {
		t.Errorf("newest frame has Mediabot-Seq %s, want %d", got, frames-1)
	}
}

func TestNATSLeavesAnExistingStreamsLimitsAsTheyAre(t *testing.T) {
	srv := natsServer(t, -1, t.TempDir())
	js := natstest.JetStream(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{"mediabot.>"},
		MaxAge: time.Hour, MaxBytes: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.MaxAge, c.MaxBytes = 48*time.Hour, 1<<30 })
	s.Frame(testFrame("c1", "alice", 1, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := streamConfig(t, srv.ClientURL()); got.MaxAge != time.Hour || got.MaxBytes != 5<<20 {
		t.Errorf("existing stream now has MaxAge %s MaxBytes %d, want them left at 1h and 5 MiB", got.MaxAge, got.MaxBytes)
	}
}

func TestParseMaxBytes(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"10GiB", 10 << 30}, {"10gib", 10 << 30}, {"500MB", 500e6}, {"1024", 1024}, {"64 KiB", 64 << 10},
		{"2TB", 2e12}, {"7B", 7}, {"0", -1}, {"-1", -1}, {"none", -1},
	}
	for _, tc := range cases {
		if got, err := ParseMaxBytes(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseMaxBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "GiB", "10 GB extra", "1.5GiB", "-2", "10XB", "99999999999TiB"} {
		if got, err := ParseMaxBytes(bad); err == nil {
			t.Errorf("ParseMaxBytes(%q) = %d, want an error", bad, got)
		}
	}
}

// writeFile writes a credential file readable by its owner only.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNATSConnectsAsAnNkeyUser(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	srv := natstest.StartWith(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	if _, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger()}); err == nil {
		t.Fatal("New without the nkey succeeded")
	}
	if _, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger(), NkeyFile: filepath.Join(t.TempDir(), "none.nk")}); err == nil ||
		!strings.Contains(err.Error(), "none.nk") {
		t.Errorf("New with a missing seed file: %v", err)
	}
	seedFile := writeFile(t, "user.nk", seed)
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.NkeyFile = seedFile })
	s.Frame(testFrame("c1", "alice", 1, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opt, err := natsgo.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	js := natstest.JetStream(t, srv.ClientURL(), opt)
	if n := storedCount(t, js); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
}

// A .creds file (a user JWT and its seed) against a server in operator
// mode, as NGS/Synadia Cloud and decentralised setups run.
func TestNATSConnectsWithACredsFile(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	opub, _ := operator.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	account, _ := nkeys.CreateAccount()
	apub, _ := account.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := nkeys.CreateUser()
	upub, _ := user.PublicKey()
	useed, _ := user.Seed()
	ujwt, err := jwt.NewUserClaims(upub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	system, _ := nkeys.CreateAccount() // JetStream needs a system account
	spub, _ := system.PublicKey()
	sjwt, err := jwt.NewAccountClaims(spub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	for pub, claims := range map[string]string{apub: ajwt, spub: sjwt} {
		if err := resolver.Store(pub, claims); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.StartWith(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: spub})
	if _, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger()}); err == nil {
		t.Fatal("New without credentials succeeded")
	}
	credsFile := writeFile(t, "user.creds", creds)
	if _, err := New(Config{URL: srv.ClientURL(), Logger: quietLogger(), CredsFile: credsFile, NkeyFile: credsFile}); err == nil {
		t.Error("New with both a creds file and an nkey file succeeded")
	}
	s := newTestNATS(t, srv.ClientURL(), func(c *Config) { c.CredsFile = credsFile })
	s.Frame(testFrame("c1", "alice", 1, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, natstest.JetStream(t, srv.ClientURL(), natsgo.UserCredentials(credsFile))); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
}
