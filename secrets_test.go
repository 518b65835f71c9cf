package mediabot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/lockedbuf"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// graphTap stands in front of graphsim's Graph API: it forwards every
// request the bot makes and keeps the bearer tokens the bot presented and
// the blobs of its answers. With rewrite set, it may change an answer's
// blob before graphsim reads it.
type graphTap struct {
	srv     *httptest.Server
	rewrite func(callID string, b mediasession.Blob) mediasession.Blob

	mu      sync.Mutex
	bearers map[string]bool
	blobs   map[string]string // call id -> encoded blob, as the bot sent it
}

func newGraphTap(t *testing.T, sim *graphsim.Sim, rewrite func(string, mediasession.Blob) mediasession.Blob) *graphTap {
	t.Helper()
	g := &graphTap{rewrite: rewrite, bearers: map[string]bool{}, blobs: map[string]string{}}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			g.mu.Lock()
			g.bearers[auth] = true
			g.mu.Unlock()
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/answer") {
			body = g.answer(t, r.URL.Path, body)
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, sim.URL()+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// answer keeps the blob of an answer request (and rewrites it if asked).
func (g *graphTap) answer(t *testing.T, path string, body []byte) []byte {
	callID := strings.TrimSuffix(strings.TrimPrefix(path, "/v1.0/communications/calls/"), "/answer")
	var req map[string]json.RawMessage
	var mc map[string]any
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req["mediaConfig"], &mc) != nil {
		return body
	}
	encoded, _ := mc["blob"].(string)
	if encoded == "" {
		return body
	}
	g.mu.Lock()
	g.blobs[callID] = encoded
	g.mu.Unlock()
	if g.rewrite == nil {
		return body
	}
	blob, err := mediasession.DecodeBlob(encoded)
	if err != nil {
		t.Errorf("the bot's blob for call %s: %v", callID, err)
		return body
	}
	if mc["blob"], err = g.rewrite(callID, blob).Encode(); err != nil {
		t.Error(err)
		return body
	}
	req["mediaConfig"], _ = json.Marshal(mc)
	out, _ := json.Marshal(req)
	return out
}

// GraphURL is the Graph base to give the bot.
func (g *graphTap) GraphURL() string { return g.srv.URL + "/v1.0" }

// Bearers are the access tokens the bot presented to Graph.
func (g *graphTap) Bearers() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for b := range g.bearers {
		out = append(out, b)
	}
	return out
}

// Blob is the blob the bot answered call callID with, decoded, and as sent.
func (g *graphTap) Blob(t *testing.T, callID string) (mediasession.Blob, string) {
	t.Helper()
	g.mu.Lock()
	encoded := g.blobs[callID]
	g.mu.Unlock()
	blob, err := mediasession.DecodeBlob(encoded)
	if err != nil {
		t.Fatalf("blob of call %s: %v", callID, err)
	}
	return blob, encoded
}

// steadyLoad has the bot judge new calls by a normal load state instead of
// the machine's: these tests run on busy machines, where the bot's own
// admission would rightly refuse calls busy, which is not what they test.
func steadyLoad() mediabot.Option {
	return mediabot.WithLoadFunc(func() mediabot.LoadState {
		return mediabot.LoadState{Level: mediabot.LoadNormal, Reason: "steady (test)", MachineIdle: 1}
	})
}

// jwtLike is the start of a JWT: a base64url JSON object ({"...).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}`)

// A bot with known secrets goes through two calls with its operator API in
// use, and nothing it or graphsim logs, writes or serves carries a secret:
// not the client secret, nor the admin token, nor any access token the bot
// presented to Graph, nor a notification token (JWT), nor a blob's answer
// token (nor the blob that holds it). A blob's answer is taken once: a
// second POST of it is 409.
func TestSecretsStayOutOfLogs(t *testing.T) {
	logs := &lockedbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clientSecret := "cs~" + strings.Repeat("S3cr3t", 5)
	adminToken := "adm-" + strings.Repeat("T0k3n", 6)
	sim, err := graphsim.Start(graphsim.Config{TenantID: mediabottest.TenantID, ClientID: mediabottest.ClientID, ClientSecret: clientSecret, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	tap := newGraphTap(t, sim, nil)
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, Logger: log, OutDir: t.TempDir(),
		Configure:  func(c *mediabot.Config) { c.GraphURL = tap.GraphURL() },
		BotOptions: []mediabot.Option{mediabot.WithAdminToken(adminToken), steadyLoad()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	calls := srv.OpsURL + "/v1/calls"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	var served []string // what the operations listener answered

	// A whole call, the operator API looking at it meanwhile; Graph fails
	// the bot's first answer, which the bot retries.
	sim.FailNext(http.MethodPost, "/answer", http.StatusServiceUnavailable, 0, 1)
	done := playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second, CallID: "5ec0e700-0000-4000-8000-000000000001",
		Participants: []graphsim.Participant{{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: 300}}, {DisplayName: "Bob", Voice: graphsim.Voice{FundamentalHz: 500}}}})
	id := waitLive(t, srv.Bot)
	testwait.For(t, 10*time.Second, "the media to connect", func() bool {
		for _, c := range srv.Bot.Calls() {
			if c.ID == id && !c.MediaStart.IsZero() {
				return true
			}
		}
		return false
	})
	for _, url := range []string{calls, calls + "/" + id} {
		code, body := operatorRequest(t, http.MethodGet, url, adminToken, "", "")
		if code != http.StatusOK {
			t.Errorf("GET %s with the admin token: %d", url, code)
		}
		raw, _ := json.Marshal(body)
		served = append(served, string(raw))
	}
	if code, _ := operatorRequest(t, http.MethodGet, calls, "wrong-"+adminToken, "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/calls with a wrong admin token: %d, want 401", code)
	}
	// The blob's answer token was used by graphsim's media processor: a
	// second answer with it is refused, the session answered already.
	blob, encodedBlob := tap.Blob(t, id)
	if status, reply, _ := postSDP(t, blob.AnswerURI, blob.Token, sdpWithSections(4)); status != http.StatusConflict {
		t.Errorf("a second answer with the blob's token: %d %s, want 409", status, reply)
	}
	for _, path := range []string{"/status.json", "/status", "/metrics"} {
		_, page := get(t, srv.OpsURL+path)
		served = append(served, page)
	}
	res := <-done
	if res == nil {
		t.Fatal("the first call failed")
	}
	blobs := []string{encodedBlob, res.Answer.MediaConfig.Blob}
	answerTokens := []string{blob.Token}

	// A second call, hung up through the operator API.
	done = playInBackground(t, sim, graphsim.Scenario{BotURL: srv.Webhook, Duration: 30 * time.Second, CallID: "5ec0e700-0000-4000-8000-000000000002",
		Participants: []graphsim.Participant{{DisplayName: "Carol", Voice: graphsim.Voice{FundamentalHz: 400}}}})
	testwait.For(t, 10*time.Second, "the second call", func() bool { return hasLiveCall(srv.Bot, "5ec0e700-0000-4000-8000-000000000002") })
	if code, body := operatorRequest(t, http.MethodDelete, calls+"/5ec0e700-0000-4000-8000-000000000002", adminToken, "", ""); code/100 != 2 {
		t.Errorf("DELETE the second call with the admin token: %d %v", code, body)
	}
	res = <-done
	if res == nil || !res.EndedByBot {
		t.Errorf("the second call was not hung up by the bot: %+v", res)
	} else {
		blob2, encoded2 := tap.Blob(t, res.CallID)
		blobs = append(blobs, encoded2)
		answerTokens = append(answerTokens, blob2.Token)
	}
	waitIdle(t, srv)
	if err := srv.Close(); err != nil {
		t.Errorf("bot.Run: %v", err)
	}

	// A bot configured with a wrong client secret: Entra refuses it its
	// token, it cannot answer; its secret, wrong but its own, stays out of
	// the log too.
	wrongSecret := "wrong~" + strings.Repeat("W0rd", 6)
	wrong, err := mediabottest.Start(mediabottest.Options{Sim: sim, Logger: log,
		Configure:  func(c *mediabot.Config) { c.ClientSecret, c.DrainTimeout = wrongSecret, 10*time.Millisecond },
		BotOptions: []mediabot.Option{steadyLoad()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: wrong.Webhook, AnswerWindow: 3 * time.Second,
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}}); err == nil {
		t.Error("a bot without a valid client secret answered a call")
	}
	_ = wrong.Close()
	_ = sim.Close()

	// Everything the bot and graphsim logged, and every file the bot wrote.
	text := logs.String()
	if !strings.Contains(text, "media connected") {
		t.Fatalf("the log capture missed the bot's log: %d bytes", len(text))
	}
	var files strings.Builder
	_ = filepath.WalkDir(srv.OutDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			raw, _ := os.ReadFile(path)
			files.Write(raw)
		}
		return nil
	})
	outputs := map[string]string{"the log": text, "the files written": files.String(), "the operations listener": strings.Join(served, "\n")}
	bearers := tap.Bearers()
	if len(bearers) == 0 {
		t.Fatal("no access token seen on the bot's requests to Graph")
	}
	secrets := map[string][]string{
		"the client secret": {clientSecret, wrongSecret},
		"the admin token":   {adminToken},
		"an access token":   bearers,
		"an answer token":   answerTokens,
		"a blob":            blobs,
	}
	for where, out := range outputs {
		for what, values := range secrets {
			for _, v := range values {
				if v != "" && strings.Contains(out, v) {
					t.Errorf("%s holds %s", where, what)
				}
			}
		}
		if m := jwtLike.FindString(out); m != "" {
			t.Errorf("%s holds a JWT-like string %.40s...", where, m)
		}
	}
	t.Logf("%d log lines, %d bytes of files, %d access tokens, %d answer tokens checked", strings.Count(text, "\n"), files.Len(), len(bearers), len(answerTokens))
}

// hasLiveCall reports whether the bot holds call id, live.
func hasLiveCall(bot *mediabot.Bot, id string) bool {
	for _, c := range bot.Calls() {
		if c.ID == id && !c.Closing {
			return true
		}
	}
	return false
}

// A blob's answer is refused after its expiresAt: 410, the session not
// answerable any more, though it is still open (the bot fails it only
// MediaConnectTimeout later). Before, a wrong token is 401 and leaves the
// answer to the right one.
func TestSecretAnswerTokenExpires(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) {
		c.AnswerWindow, c.MediaConnectTimeout, c.DrainTimeout = 2*time.Second, 3*time.Second, 10*time.Millisecond
	}, steadyLoad())
	blob := offerSession(t, sim, srv, "e1a50000-0000-4000-8000-000000000001")
	if left := time.Until(blob.ExpiresAt); left < time.Second || left > 8*time.Second {
		t.Fatalf("the blob expires in %s, want the answer window and the connect timeout (5 s), rounded up", left)
	}
	if status, reply, _ := postSDP(t, blob.AnswerURI, strings.ToUpper(blob.Token), sdpWithSections(4)); status != http.StatusUnauthorized {
		t.Errorf("before expiry, a wrong token: %d %s, want 401", status, reply)
	}
	time.Sleep(time.Until(blob.ExpiresAt) + 100*time.Millisecond)
	status, reply, _ := postSDP(t, blob.AnswerURI, blob.Token, sdpWithSections(4))
	if status != http.StatusGone || !strings.Contains(reply, "expired") {
		t.Errorf("after expiresAt: %d %s, want 410 session expired", status, reply)
	}
	// Once the bot has given the media up (MediaConnectTimeout after
	// expiresAt), the session is closed: still 410.
	testwait.For(t, 10*time.Second, "the session to close", func() bool {
		status, reply, _ := postSDP(t, blob.AnswerURI, blob.Token, sdpWithSections(4))
		if status != http.StatusGone {
			t.Fatalf("after expiresAt: %d %s, want 410", status, reply)
		}
		if strings.Contains(reply, "closed") {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
}

// Tokens are compared in constant time: the admin token in the operator
// API's auth and the blob's answer token in Session.Answer use
// crypto/subtle, and no product code compares a token, secret or password
// with == or != (only with "" or nil, which says whether one is set). The
// check reads the source: it fails if either stops using subtle, or a
// comparison creeps in. graphsim (an emulator) and the benches are not
// product code.
func TestSecretComparisonsAreConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	usesSubtle := func(file, fn string) {
		t.Helper()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		ast.Inspect(f, func(n ast.Node) bool {
			d, ok := n.(*ast.FuncDecl)
			if !ok || d.Name.Name != fn {
				return true
			}
			ast.Inspect(d, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConstantTimeCompare" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "subtle" {
						found = true
					}
				}
				return true
			})
			return false
		})
		if !found {
			t.Errorf("%s: %s does not compare with subtle.ConstantTimeCompare", file, fn)
		}
	}
	usesSubtle("internal/ops/operator.go", "auth")
	usesSubtle("mediasession/session.go", "Answer")

	secretish := regexp.MustCompile(`(?i)token|secret|password|pwd`)
	named := func(e ast.Expr) string {
		switch e := e.(type) {
		case *ast.Ident:
			return e.Name
		case *ast.SelectorExpr:
			return e.Sel.Name
		case *ast.CallExpr: // string(x), strings.TrimSpace(x)...
			if len(e.Args) == 1 {
				if id, ok := e.Args[0].(*ast.Ident); ok {
					return id.Name
				}
			}
		}
		return ""
	}
	isEmpty := func(e ast.Expr) bool {
		if lit, ok := e.(*ast.BasicLit); ok {
			return lit.Value == `""` || lit.Value == "``"
		}
		id, ok := e.(*ast.Ident)
		return ok && id.Name == "nil"
	}
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch path {
			case "graphsim", "cmd/graphsim", "bench", "examples", "testdata":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			b, ok := n.(*ast.BinaryExpr)
			if !ok || (b.Op != token.EQL && b.Op != token.NEQ) || isEmpty(b.X) || isEmpty(b.Y) {
				return true
			}
			for _, side := range []ast.Expr{b.X, b.Y} {
				if name := named(side); name != "" && secretish.MatchString(name) && !strings.HasSuffix(name, "URL") {
					t.Errorf("%s: %s compared with %s", fset.Position(b.Pos()), name, b.Op)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files read", checked)
	}
}
