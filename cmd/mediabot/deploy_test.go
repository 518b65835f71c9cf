package main

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/internal/cli"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// deploy/env.example is generated from the flags of mediabot serve:
//go:generate go test -tags nolibopusfile -run TestEnvExample -update .

var update = flag.Bool("update", false, "rewrite deploy/env.example from the flags of mediabot serve")

const (
	unitPath       = "../../deploy/mediabot.service"
	envExamplePath = "../../deploy/env.example"
	regenerate     = "go generate ./cmd/mediabot (or go test -tags nolibopusfile ./cmd/mediabot -run EnvExample -update)"
)

// envSetting is a value deploy/env.example sets, with a note for it.
type envSetting struct{ value, note string }

// envExampleSettings are the flags deploy/env.example sets: a VM with a
// public IP, run by deploy/mediabot.service. The other flags are there
// commented out, at their default. Secrets are placeholders, never values.
var envExampleSettings = map[string]envSetting{
	"listen":          {"0.0.0.0:443", "Graph reaches the bot here (the unit lets it bind 443)."},
	"public-url":      {"https://bot.example.com", ""},
	"tls-cert":        {"/run/credentials/mediabot.service/tls.crt", "The unit's copy of /etc/mediabot/tls.crt (LoadCredential=), readable by the service only."},
	"tls-key":         {"/run/credentials/mediabot.service/tls.key", "The unit's copy of /etc/mediabot/tls.key."},
	"ops-listen":      {"10.0.0.5:9441", "Metrics, the status page (participants' names) and the operator API: keep this address on your own network, never the public one."},
	"admin-token":     {"change-me-too", "A placeholder: put a long random token here."},
	"instance-id":     {"bot-eu-1", ""},
	"tenant-id":       {"00000000-0000-0000-0000-000000000000", "Your app registration's: tenant, app (client) id and client secret."},
	"client-id":       {"00000000-0000-0000-0000-000000000000", ""},
	"client-secret":   {"change-me", "A placeholder: put the app registration's client secret here."},
	"media-port":      {"8445", "Open it (UDP) to the internet."},
	"media-ports":     {"1", "One port's reader decodes on one core: above ~600 streams give it another (ports 8445-8446 then, open both)."},
	"media-public-ip": {"203.0.113.10", "The VM's public IP."},
	"out-dir":         {"/var/lib/mediabot/recordings", "In the unit's state directory (StateDirectory=mediabot), the one place the service may write."},
	"retention-days":  {"30", ""},
	"max-calls":       {"40", ""},
}

const envExampleHeader = `# /etc/mediabot/env, the settings of deploy/mediabot.service: every flag of
# ` + "`mediabot serve`" + ` as MEDIABOT_<FLAG> (a flag on the command line wins).
# Keep it root-only (chmod 600): it holds the client secret. The values set
# are a VM with a public IP; a line "#MEDIABOT_...=" shows a flag's default:
# uncomment it to change it.
#
# Generated from the flags (cmd/mediabot/config.go), in the order of
# ` + "`mediabot serve -h`" + `, by
#   go generate ./cmd/mediabot
# The values set and their notes are in cmd/mediabot/deploy_test.go.
`

// envExample is deploy/env.example as the flags of mediabot serve make it:
// each flag's usage, then MEDIABOT_<NAME>=<value> when the example sets it,
// else #MEDIABOT_<NAME>=<default>.
func envExample(t *testing.T) []byte {
	t.Helper()
	// The flags take their defaults from the environment: not this one's.
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MEDIABOT_") {
			t.Setenv(k, v)
			os.Unsetenv(k)
		}
	}
	f := cli.NewFlags("mediabot serve", "MEDIABOT")
	var c mediabot.Config
	var s serveSettings
	serveFlags(f, &c, &s)
	lists := stringLists(reflect.ValueOf(&c).Elem(), reflect.ValueOf(&s).Elem())
	var b bytes.Buffer
	b.WriteString(envExampleHeader)
	used := map[string]bool{}
	f.VisitAll(func(fl *flag.Flag) {
		env := f.EnvName(fl.Name)
		_, usage := flag.UnquoteUsage(fl)
		usage = strings.TrimSuffix(usage, " (env "+env+")")
		def, secret := flagDefault(fl, lists)
		b.WriteString("\n")
		writeComment(&b, usage)
		line := "#" + env + "=" + def
		if set, ok := envExampleSettings[fl.Name]; ok {
			used[fl.Name] = true
			if set.note != "" {
				writeComment(&b, set.note)
			}
			if (secret || strings.Contains(fl.Name, "secret") || strings.HasSuffix(fl.Name, "-token")) && !strings.HasPrefix(set.value, "change-me") {
				t.Errorf("env.example: --%s is a secret: its value must be a placeholder (change-me...), not %q", fl.Name, set.value)
			}
			line = env + "=" + set.value
		}
		if strings.ContainsAny(line, " \t\"'\\$`") {
			t.Errorf("env.example: %s needs quoting, which the generator does not do", line)
		}
		b.WriteString(line + "\n")
	})
	for name := range envExampleSettings {
		if !used[name] {
			t.Errorf("env.example sets --%s, which mediabot serve does not have", name)
		}
	}
	return b.Bytes()
}

// stringLists are the []string fields of structs, the targets of list
// flags.
func stringLists(structs ...reflect.Value) []reflect.Value {
	var out []reflect.Value
	for _, v := range structs {
		for i := range v.NumField() {
			switch fv := v.Field(i); {
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
				out = append(out, fv)
			case fv.Kind() == reflect.Struct:
				out = append(out, stringLists(fv)...)
			}
		}
	}
	return out
}

// flagDefault is fl's default as text, and whether fl is a secret (a flag
// that never prints its value). A list flag (flag.Func) has no DefValue: its
// default is what its field held before fl was set, the field found by
// setting fl to a sentinel. fl's flag set is thrown away after.
func flagDefault(fl *flag.Flag, lists []reflect.Value) (def string, secret bool) {
	if fl.DefValue != "" {
		return fl.DefValue, false
	}
	strs := func(v reflect.Value) []string {
		out := make([]string, v.Len())
		for i := range out {
			out[i] = v.Index(i).String()
		}
		return out
	}
	before := make([][]string, len(lists))
	for i, l := range lists {
		before[i] = strs(l)
	}
	const sentinel = "\x00sentinel"
	if err := fl.Value.Set(sentinel); err != nil {
		return "", false
	}
	for i, l := range lists {
		// (A list probed before holds the sentinel already.)
		if now := strs(l); len(now) == 1 && now[0] == sentinel && !reflect.DeepEqual(before[i], now) {
			return strings.Join(before[i], ","), false
		}
	}
	return "", fl.Value.String() != sentinel
}

// writeComment writes text as comment lines of at most 78 characters.
func writeComment(b *bytes.Buffer, text string) {
	line := "#"
	for _, word := range strings.Fields(text) {
		if len(line) > 1 && len(line)+1+len(word) > 78 {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	b.WriteString(line + "\n")
}

// deploy/env.example is every flag of mediabot serve, as the flags define
// them now; -update (go generate) rewrites it.
func TestEnvExample(t *testing.T) {
	want := envExample(t)
	if *update {
		if t.Failed() {
			t.FailNow()
		}
		if err := os.WriteFile(envExamplePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		at := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Errorf("deploy/env.example is not what the flags of mediabot serve make; regenerate it: %s\nline %d is\n\t%s\nwant\n\t%s", regenerate, i+1, at(gl), at(wl))
	}
	// Every flag, each once.
	f := cli.NewFlags("mediabot serve", "MEDIABOT")
	serveFlags(f, new(mediabot.Config), new(serveSettings))
	vars := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#?(MEDIABOT_[A-Z0-9_]+)=`).FindAllStringSubmatch(string(got), -1) {
		vars[m[1]]++
	}
	var wrong []string
	n := 0
	f.VisitAll(func(fl *flag.Flag) {
		n++
		if env := f.EnvName(fl.Name); vars[env] != 1 {
			wrong = append(wrong, env+" "+strconv.Itoa(vars[env])+" times")
		}
	})
	if len(wrong) > 0 || len(vars) != n {
		t.Errorf("deploy/env.example has %d variables, mediabot serve %d flags, each to be there once: %s (%s)", len(vars), n, strings.Join(wrong, ", "), regenerate)
	}
}

// envValues are the variables deploy/env.example sets.
func envValues(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

// unitSettings are a unit file's settings, by key, each value in order.
func unitSettings(unit string) map[string][]string {
	keys := map[string][]string{}
	for line := range strings.SplitSeq(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// The unit runs the bot as a user systemd makes (none to create), that can
// write its state directory, where the example's recordings go, and bind
// 443; systemd-analyze verify finds nothing wrong with it.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	keys := unitSettings(unit)
	one := func(key string) string {
		if len(keys[key]) != 1 {
			t.Errorf("mediabot.service: %s= %d times, want once", key, len(keys[key]))
			return ""
		}
		return keys[key][0]
	}
	for key, want := range map[string]string{
		"ExecStart": "/usr/local/bin/mediabot serve", "EnvironmentFile": "/etc/mediabot/env",
		"DynamicUser": "yes", "StateDirectory": "mediabot", "WorkingDirectory": "/var/lib/mediabot",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "KillSignal": "SIGTERM",
	} {
		if got := one(key); got != want {
			t.Errorf("mediabot.service: %s=%s, want %s", key, got, want)
		}
	}
	for _, key := range []string{"User", "Group"} {
		if keys[key] != nil {
			t.Errorf("mediabot.service: %s=%s: a user nobody creates (DynamicUser= makes one)", key, keys[key][0])
		}
	}
	env := envValues(t)
	// The recordings go where the service may write: its state directory.
	state := "/var/lib/" + one("StateDirectory")
	if out := env["MEDIABOT_OUT_DIR"]; !strings.HasPrefix(out, state+"/") {
		t.Errorf("env.example: MEDIABOT_OUT_DIR=%s, outside the unit's state directory %s", out, state)
	}
	// A port under 1024 needs the capability.
	if _, port, _ := strings.Cut(env["MEDIABOT_LISTEN"], ":"); port != "" {
		if n, _ := strconv.Atoi(port); n < 1024 && (!strings.Contains(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE") ||
			!strings.Contains(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE")) {
			t.Errorf("env.example listens on port %d: the unit needs CAP_NET_BIND_SERVICE (ambient, in the bounding set)", n)
		}
	}
	// The TLS files the example names are the credentials the unit loads.
	creds := map[string]bool{}
	for _, c := range keys["LoadCredential"] {
		id, _, _ := strings.Cut(c, ":")
		creds["/run/credentials/mediabot.service/"+id] = true
	}
	for _, v := range []string{"MEDIABOT_TLS_CERT", "MEDIABOT_TLS_KEY"} {
		if !creds[env[v]] {
			t.Errorf("env.example: %s=%s, not a credential the unit loads (LoadCredential=%v)", v, env[v], keys["LoadCredential"])
		}
	}

	t.Run("verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("no systemd-analyze")
		}
		// verify checks that ExecStart's binary exists and is executable;
		// /usr/local/bin/mediabot is not installed here, so the copy
		// verified runs this test binary instead (same arguments), under
		// the same file name (the credential paths name the unit).
		bin, err := os.Executable()
		if err != nil || strings.ContainsAny(bin, " \t\"'\\%$") {
			t.Skipf("test binary %q: not usable in ExecStart (%v)", bin, err)
		}
		copied := strings.Replace(unit, "\nExecStart=/usr/local/bin/mediabot serve\n", "\nExecStart="+bin+" serve\n", 1)
		if copied == unit {
			t.Fatal("mediabot.service: no ExecStart=/usr/local/bin/mediabot serve to point at the test binary")
		}
		path := filepath.Join(t.TempDir(), "mediabot.service")
		if err := os.WriteFile(path, []byte(copied), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
		// An unknown key or a bad value is only a warning ("ignoring"),
		// exit status 0: any line about the unit fails the test.
		if err != nil || strings.Contains(string(out), "mediabot.service") {
			t.Errorf("systemd-analyze verify mediabot.service (ExecStart=%s serve): %v\n%s", bin, err, out)
		}
	})
}

// readmeMetrics are the metric names the README's HTTP routes table lists
// for GET /metrics, with their label when they have one.
func readmeMetrics(t *testing.T) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for line := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(line, "| `GET /metrics` |") {
			row = line
		}
	}
	names := map[string]string{}
	for _, m := range regexp.MustCompile("`(mediabot_[a-z0-9_]+)(?:\\{([a-z_]+)\\})?`").FindAllStringSubmatch(row, -1) {
		names[m[1]] = m[2]
	}
	if len(names) < 15 {
		t.Fatalf("README: the GET /metrics row of the HTTP routes table lists %d mediabot_ metrics: %q", len(names), row)
	}
	return names
}

// Every metric the README lists is served from start-up, at 0, each
// labelled one with its known label values; consumer labels are kinds of
// consumers, never a sink's path.
func TestMetricsTheREADMEListsExistAtStart(t *testing.T) {
	srv, err := mediabottest.Start(mediabottest.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.OpsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	// The registry prints a family's TYPE only when it has series; the
	// samples' names carry a histogram's _bucket, _sum and _count.
	served := map[string]bool{}
	labels := map[string][]string{} // sample lines by family
	for line := range strings.SplitSeq(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = true
		} else if line != "" && !strings.HasPrefix(line, "#") {
			series, _, _ := strings.Cut(line, " ")
			name, _, _ := strings.Cut(series, "{")
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if fam, ok := strings.CutSuffix(name, suffix); ok && served[fam] {
					name = fam
				}
			}
			labels[name] = append(labels[name], line)
		}
	}
	for name, label := range readmeMetrics(t) {
		switch {
		case !served[name] || len(labels[name]) == 0:
			t.Errorf("README lists %s, /metrics of a bot just started has no series of it", name)
		case label != "" && !strings.Contains(labels[name][0], name+"{"+label+"=") && !strings.Contains(labels[name][0], ","+label+"="):
			t.Errorf("README lists %s{%s}, /metrics serves %s", name, label, labels[name][0])
		}
	}
	for _, series := range []string{
		`mediabot_calls{state="established"} 0`,
		`mediabot_calls_placed_total{result="created"} 0`, `mediabot_calls_placed_total{result="refused"} 0`, `mediabot_calls_placed_total{result="failed"} 0`,
		`mediabot_concealed_packets_total{method="fec"} 0`, `mediabot_concealed_packets_total{method="plc"} 0`,
		`mediabot_media_packets_total{result="srtp"} 0`, `mediabot_media_packets_total{result="undecryptable"} 0`,
		`mediabot_ring_overflows_total{consumer="sink-file"} 0`, `mediabot_ring_overflows_total{consumer="speech"} 0`,
		`mediabot_sink_errors_total{sink="file"} 0`,
		`mediabot_rtp_packets_total 0`, `mediabot_rtp_decode_errors_total 0`,
	} {
		if !strings.Contains("\n"+text, "\n"+series+"\n") {
			t.Errorf("/metrics at start: no %s", series)
		}
	}
	for _, line := range labels["mediabot_ring_overflows_total"] {
		if strings.ContainsAny(line, "/()") {
			t.Errorf("a consumer named by configuration: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
