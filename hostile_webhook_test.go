package mediabot_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/raceflag"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// seedIncomingCallID is the call Graph's incoming-call Example 2 names.
const seedIncomingCallID = "57DAB8B1894C409AB240BD8BEAE78896"

// notificationToken is a bearer token graphsim signed for notifications
// (valid an hour): graphsim signs one per request, which costs more than
// the bot's check, so a flood reuses one, as a replaying attacker would.
func notificationToken(t *testing.T, sim *graphsim.Sim) string {
	t.Helper()
	got := make(chan string, 1)
	catch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer catch.Close()
	if _, err := sim.Notify(context.Background(), catch.URL, []byte(`{"value":[]}`)); err != nil {
		t.Fatal(err)
	}
	return <-got
}

// offerSession rings the bot with Graph's Example 2 as call callID and
// returns the blob of its answer: a live media session nobody has answered
// yet (graphsim plays no media for it).
func offerSession(t *testing.T, sim *graphsim.Sim, srv *mediabottest.Server, callID string) mediasession.Blob {
	t.Helper()
	body := bytes.ReplaceAll(seedExample(t, "example2_incoming.json"), []byte(seedIncomingCallID), []byte(callID))
	offer, err := sim.OfferCall(context.Background(), srv.Webhook, callID, body, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if offer.Answer == nil {
		t.Fatalf("call %s not answered: %+v", callID, offer)
	}
	blob, err := mediasession.DecodeBlob(offer.Answer.MediaConfig.Blob)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// postSDP POSTs an SDP answer to uri with token as bearer (none if ""),
// and returns the status, the reply (4 KiB at most) and how long the reply
// took.
func postSDP(t *testing.T, uri, token string, sdp []byte) (int, string, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, uri, bytes.NewReader(sdp))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", uri, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(reply), time.Since(start)
}

// sdpWithSections is a syntactically valid SDP answer with n audio
// sections, as short as they can be (1,000 fit in the endpoint's 64 KiB).
func sdpWithSections(n int) []byte {
	var b bytes.Buffer
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":") + "\r\n")
	for range n {
		b.WriteString("m=audio 9 RTP/AVP 0\r\n")
	}
	return b.Bytes()
}

// unknownCallNotification is a signed-worthy commsNotifications body: the
// call callID, which the bot does not hold, is established.
func unknownCallNotification(callID string) []byte {
	raw, _ := json.Marshal(signaling.Call{ODataType: signaling.ODataCall, ODataID: "/communications/calls/" + callID, State: "established"})
	body, _ := json.Marshal(signaling.CommsNotifications{ODataType: signaling.ODataCommsNotifications, Value: []signaling.CommsNotification{{
		ODataType: signaling.ODataCommsNotification, ChangeType: "updated",
		Resource: "/app/calls/" + callID, ResourceURL: "/communications/calls/" + callID, ResourceData: raw,
	}}})
	return body
}

// hugeHeaderToken is a bearer JWT whose header segment alone is about n
// bytes: an RS256 header with an n-byte kid, a real payload shape and a
// bogus signature.
func hugeHeaderToken(n int) string {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": strings.Repeat("k", n*3/4)})
	payload, _ := json.Marshal(map[string]any{"iss": "https://graph.microsoft.com", "aud": testApp, "tid": testTenant,
		"exp": time.Now().Add(time.Hour).Unix()})
	enc := base64.RawURLEncoding.EncodeToString
	return "Bearer " + enc(header) + "." + enc(payload) + "." + enc(bytes.Repeat([]byte{1}, 256))
}

// rawPost POSTs a JSON body to path on addr with the given Authorization,
// on a connection of its own (the webhook closes every connection after its
// reply), and returns the reply's status. It is a lean client, so that a
// flood measures the bot more than the client.
func rawPost(addr, path, auth string, body []byte) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n",
		path, addr, auth, len(body))
	if _, err := conn.Write(append(req, body...)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// processCPU is the CPU time, user and system, the test process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies keeps request durations, safe for concurrent use.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

// quantile is the q-quantile (0..1) of the durations kept.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return 0
	}
	s := slices.Clone(l.all)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// slowLoris opens a connection to addr and sends a request's headers a
// byte every interval, never finishing them, until the server cuts the
// connection; it returns how long the server took to cut it and what it
// said first ("" if it closed without a word), or an error when it did not
// cut it within limit.
func slowLoris(addr string, interval, limit time.Duration) (time.Duration, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	start := time.Now()
	type cut struct {
		said string
		err  error
	}
	closed := make(chan cut, 1)
	go func() {
		_ = conn.SetReadDeadline(start.Add(limit))
		var b [512]byte
		n, err := io.ReadAtLeast(conn, b[:], 1)
		var ne net.Error
		switch {
		case n > 0:
			said, _, _ := strings.Cut(string(b[:n]), "\r\n")
			closed <- cut{said: said}
		case errors.As(err, &ne) && ne.Timeout():
			closed <- cut{err: fmt.Errorf("still open after %s", limit)}
		default:
			closed <- cut{} // EOF or reset
		}
	}()
	request := "POST /api/calls HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 1<<16)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case c := <-closed:
			return time.Since(start), c.said, c.err
		case <-tick.C:
			_, _ = conn.Write([]byte{request[i%len(request)]})
		}
	}
}

// The webhook and the answer endpoint under attack, all at once: 200
// slow-loris connections, bearer tokens of 1 MB and 2 MiB, 10,000 signed
// notifications for calls the bot does not hold, a 1 MiB SDP answer and one
// with 1,000 sections. Each gets a clear status fast, nothing is acted on,
// and a real call rung meanwhile is answered well inside Graph's window.
//
// The bot is served as mediabottest serves it: ReadHeaderTimeout 5 s (as
// `mediabot serve` sets it) and net/http's default header limit of 1 MiB
// (serve sets 64 KiB, so there a 1 MB header is refused 431 before the
// bot's handler sees it: here the handler itself must refuse it).
func TestHostileWebhookAttack(t *testing.T) {
	sim := startSim(t)
	srv := startBot(t, sim, func(c *mediabot.Config) { c.DrainTimeout = 10 * time.Millisecond }, steadyLoad())
	metrics := srv.OpsURL + "/metrics"
	token := notificationToken(t, sim)
	ignoredBefore := scrapeGauge(metrics, "mediabot_notifications_ignored_total")
	host := strings.TrimPrefix(srv.URL, "http://")

	// A live media session nobody answered, for the answer endpoint.
	blob := offerSession(t, sim, srv, "b10b0000-0000-4000-8000-000000000001")

	var wg sync.WaitGroup
	// 200 slow-loris connections, a header byte every 200 ms.
	const lorises = 200
	loris := &latencies{}
	var lorisErrs atomic.Int64
	var lorisMu sync.Mutex
	lorisSaid := map[string]int{}
	for range lorises {
		wg.Go(func() {
			took, said, err := slowLoris(host, 200*time.Millisecond, 20*time.Second)
			if err != nil {
				if lorisErrs.Add(1) <= 3 {
					t.Errorf("slow loris: %v", err)
				}
				return
			}
			loris.add(took)
			lorisMu.Lock()
			lorisSaid[said]++
			lorisMu.Unlock()
		})
	}

	// 10,000 signed notifications about calls the bot does not hold, from
	// 16 clients at once (2,000 under the race detector, which makes each
	// several times dearer).
	floods, flooders := 10000, 16
	if raceflag.Enabled() {
		floods = 2000
	}
	flood := &latencies{}
	var next atomic.Int64
	var notAccepted atomic.Int64
	floodStart, floodCPU := time.Now(), processCPU(t)
	var floodTook, floodCPUUsed time.Duration
	var floodDone sync.WaitGroup
	for range flooders {
		floodDone.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(floods) {
					return
				}
				start := time.Now()
				status, err := rawPost(host, "/api/calls", token, unknownCallNotification(fmt.Sprintf("dead0000-0000-4000-8000-%012d", i)))
				flood.add(time.Since(start))
				if (err != nil || status != http.StatusAccepted) && notAccepted.Add(1) <= 3 {
					t.Errorf("notification %d for an unknown call: %d (%v), want 202", i, status, err)
				}
			}
		})
	}
	wg.Go(func() {
		floodDone.Wait()
		floodTook, floodCPUUsed = time.Since(floodStart), processCPU(t)-floodCPU
	})

	// A real call, rung while all that goes on.
	var res *graphsim.CallResult
	var callErr error
	wg.Go(func() {
		time.Sleep(300 * time.Millisecond)
		res, callErr = sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 2 * time.Second,
			Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	})

	// Meanwhile, one request at a time: each must be refused clearly, fast.
	time.Sleep(200 * time.Millisecond)
	type refusal struct {
		what      string
		status    int
		took      time.Duration
		replySize int
	}
	var refusals []refusal
	headerRequest := func(what, auth string) {
		req, _ := http.NewRequest(http.MethodPost, srv.Webhook, bytes.NewReader(unknownCallNotification("1b0b0000-0000-4000-8000-000000000001")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		refusals = append(refusals, refusal{what, resp.StatusCode, time.Since(start), len(reply)})
	}
	headerRequest("1 MB bearer JWT (its header segment)", hugeHeaderToken(1_000_000))
	headerRequest("1 MB bearer token, not a JWT", "Bearer "+strings.Repeat("x", 1_000_000))
	headerRequest("2 MiB bearer JWT", hugeHeaderToken(2<<20))
	status, reply, took := postSDP(t, blob.AnswerURI, blob.Token, bytes.Repeat([]byte("a=x\r\n"), (1<<20)/5))
	refusals = append(refusals, refusal{"1 MiB SDP answer", status, took, len(reply)})
	status, reply, took = postSDP(t, blob.AnswerURI, blob.Token, sdpWithSections(1000))
	refusals = append(refusals, refusal{"SDP answer with 1,000 m-lines", status, took, len(reply)})
	status, reply, took = postSDP(t, blob.AnswerURI, "not-the-token", sdpWithSections(4))
	refusals = append(refusals, refusal{"SDP answer with a wrong token", status, took, len(reply)})

	want := map[string][]int{
		"1 MB bearer JWT (its header segment)": {http.StatusUnauthorized, http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge},
		"1 MB bearer token, not a JWT":         {http.StatusUnauthorized, http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge},
		"2 MiB bearer JWT":                     {http.StatusRequestHeaderFieldsTooLarge},
		"1 MiB SDP answer":                     {http.StatusRequestEntityTooLarge},
		"SDP answer with 1,000 m-lines":        {http.StatusBadRequest},
		"SDP answer with a wrong token":        {http.StatusUnauthorized},
	}
	for _, r := range refusals {
		t.Logf("%s: %d in %s (%d-byte reply)", r.what, r.status, r.took.Round(time.Microsecond), r.replySize)
		if !slices.Contains(want[r.what], r.status) {
			t.Errorf("%s: status %d, want one of %v", r.what, r.status, want[r.what])
		}
		// Fast: well under a second on an idle machine; generous here for
		// a busy one, and the race detector.
		if limit := 5 * time.Second; (!raceflag.Enabled() && r.took > limit) || r.took > 4*limit {
			t.Errorf("%s: took %s", r.what, r.took)
		}
		// The reply does not echo what the attacker sent.
		if r.replySize > 4096 {
			t.Errorf("%s: a %d-byte reply", r.what, r.replySize)
		}
	}

	wg.Wait()
	t.Logf("slow loris: %d connections cut by the server, the first after %s, median %s, the last %s; the server said (first line: count) %s",
		len(loris.all), loris.quantile(0).Round(time.Millisecond), loris.quantile(0.5).Round(time.Millisecond),
		loris.quantile(1).Round(time.Millisecond), fmt.Sprint(lorisSaid))
	if len(loris.all) != lorises {
		t.Errorf("%d of %d slow-loris connections cut", len(loris.all), lorises)
	}
	// ReadHeaderTimeout is 5 s: none may be cut before (that would not be
	// the timeout), nor much after.
	if first, last := loris.quantile(0), loris.quantile(1); first < 4*time.Second || last > 15*time.Second {
		t.Errorf("slow-loris connections cut after %s to %s, want about 5 s (ReadHeaderTimeout)", first, last)
	}
	t.Logf("flood: %d notifications for unknown calls in %s (%.0f/s): median %s, p99 %s, slowest %s",
		len(flood.all), floodTook.Round(time.Millisecond), float64(len(flood.all))/floodTook.Seconds(),
		flood.quantile(0.5).Round(time.Microsecond), flood.quantile(0.99).Round(time.Microsecond), flood.quantile(1).Round(time.Millisecond))
	// Client and bot together, and the slow lorises and the real call
	// beside: an upper bound on what a notification costs the bot.
	t.Logf("flood: the process used %s of CPU meanwhile, %s per notification", floodCPUUsed.Round(time.Millisecond),
		(floodCPUUsed / time.Duration(floods)).Round(time.Microsecond))
	if n := notAccepted.Load(); n != 0 {
		t.Errorf("%d notifications for unknown calls not accepted with 202", n)
	}
	if p99 := flood.quantile(0.99); p99 > 5*time.Second {
		t.Errorf("notifications for unknown calls: p99 %s", p99)
	}
	ignored := scrapeGauge(metrics, "mediabot_notifications_ignored_total") - ignoredBefore
	if ignored < float64(floods) {
		t.Errorf("mediabot_notifications_ignored_total rose by %v, want at least %d", ignored, floods)
	}
	t.Logf("mediabot_notifications_ignored_total rose by %v", ignored)

	if callErr != nil {
		t.Fatalf("the real call: %v", callErr)
	}
	t.Logf("the real call was answered %s after it rang", res.AnswerLatency.Round(time.Millisecond))
	if res.AnswerLatency >= 15*time.Second || res.Rejected != "" {
		t.Errorf("the real call: answered after %s (rejected %q), want inside Graph's 15 s", res.AnswerLatency, res.Rejected)
	}
	if res.PacketsSent[res.Participants[0]] == 0 {
		t.Error("the real call carried no media")
	}
	for _, c := range srv.Bot.Calls() {
		if strings.HasPrefix(c.ID, "dead0000") || strings.HasPrefix(c.ID, "1b0b0000") {
			t.Errorf("a notification for an unknown call made call %s", c.ID)
		}
	}
}
