package mediabot_test

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/lockedbuf"
	"github.com/mediabot-dev/mediabot/internal/raceflag"
	"github.com/mediabot-dev/mediabot/internal/testwait"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// udpQueue reads the kernel's state of the IPv4 loopback UDP socket bound to
// port: the bytes queued unread and the datagrams dropped for lack of room.
// ok is false where /proc/net/udp does not say (not Linux).
func udpQueue(port int) (queued, drops int64, ok bool) {
	raw, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, 0, false
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 || f[1] != local || f[2] != "00000000:0000" {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		queued, _ = strconv.ParseInt(rx, 16, 64)
		drops, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		return queued, drops, true
	}
	return 0, 0, false
}

// queueGate holds an attack back while the media socket holds over high
// bytes unread, until the bot has read it down to low: the attack then goes
// as fast as the bot reads, never faster than its pace. A bot whose process
// a busy machine leaves waiting for a core thus makes the kernel drop
// nothing, honest packets included, and keeps them queued behind the
// attack's for a few milliseconds only (what the bot does with what it reads
// is the test, not how a machine's scheduler treats it). One sender uses
// it; it looks at the socket every 32nd send.
type queueGate struct {
	port      int
	high, low int64
	sends     int
	held      time.Duration // spent waiting
	maxSeen   int64
}

// gateHigh and gateLow bound the bytes queued at the media socket, about
// 800 and 400 datagrams of the attack's (the kernel counts each datagram's
// buffer, not its bytes): a few dozen milliseconds of the bot's reading.
const gateHigh, gateLow = 1 << 20, 512 << 10

// wait returns once the socket has room.
func (g *queueGate) wait() {
	if g.sends++; g.sends%32 != 0 {
		return
	}
	q, _, ok := udpQueue(g.port)
	g.maxSeen = max(g.maxSeen, q)
	if !ok || q <= g.high {
		return
	}
	start := time.Now()
	for q > g.low {
		time.Sleep(time.Millisecond)
		q, _, _ = udpQueue(g.port)
	}
	g.held += time.Since(start)
}

// udpRelay stands between graphsim's media peer and the bot, as a NAT would:
// each peer address it hears from gets a socket of its own towards the bot,
// so the bot knows the peer by that socket's address. It keeps a copy of
// every SRTP packet it forwards, and can send on a peer's socket what the
// peer did not: replays of its packets, forgeries.
type udpRelay struct {
	ln  *net.UDPConn
	bot atomic.Pointer[netip.AddrPort]

	mu   sync.Mutex
	legs []*relayLeg
}

type relayLeg struct {
	peer netip.AddrPort // graphsim's side
	up   *net.UDPConn   // towards the bot

	mu   sync.Mutex
	srtp []capturedPacket
	last map[uint32]uint16 // the latest sequence number forwarded, by SSRC
}

type capturedPacket struct {
	b  []byte
	at time.Time
}

func newUDPRelay(t *testing.T) *udpRelay {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, l := range r.legs {
			l.up.Close()
		}
	})
	go r.run()
	return r
}

func (r *udpRelay) port() int { return r.ln.LocalAddr().(*net.UDPAddr).Port }

func (r *udpRelay) run() {
	buf := make([]byte, 2048)
	legs := map[netip.AddrPort]*relayLeg{}
	for {
		n, from, err := r.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		leg := legs[from]
		if leg == nil {
			bot := r.bot.Load()
			if bot == nil {
				continue
			}
			up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(*bot))
			if err != nil {
				return
			}
			leg = &relayLeg{peer: from, up: up, last: map[uint32]uint16{}}
			legs[from] = leg
			r.mu.Lock()
			r.legs = append(r.legs, leg)
			r.mu.Unlock()
			go leg.back(r.ln)
		}
		pkt := buf[:n]
		_, _ = leg.up.Write(pkt)
		if n >= 12 && pkt[0] >= 128 && pkt[0] <= 191 && (pkt[1] < 192 || pkt[1] > 223) {
			leg.mu.Lock()
			leg.srtp = append(leg.srtp, capturedPacket{b: append([]byte(nil), pkt...), at: time.Now()})
			leg.last[binary.BigEndian.Uint32(pkt[8:12])] = binary.BigEndian.Uint16(pkt[2:4])
			leg.mu.Unlock()
		}
	}
}

// back forwards what the bot sends the peer.
func (l *relayLeg) back(ln *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, err := l.up.Read(buf)
		if err != nil {
			return
		}
		_, _ = ln.WriteToUDPAddrPort(buf[:n], l.peer)
	}
}

// leg is the relay's first leg that carried SRTP, nil before.
func (r *udpRelay) leg() *relayLeg {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.legs {
		l.mu.Lock()
		n := len(l.srtp)
		l.mu.Unlock()
		if n > 0 {
			return l
		}
	}
	return nil
}

// replay is a copy of an authentic packet the relay forwarded at least
// 100 ms ago, nil if none.
func (l *relayLeg) replay() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := len(l.srtp)
	for old > 0 && time.Since(l.srtp[old-1].at) < 100*time.Millisecond {
		old--
	}
	if old == 0 {
		return nil
	}
	return append([]byte(nil), l.srtp[rand.N(old)].b...)
}

// forgery is an SRTP packet of one of the peer's sources, numbered ahead of
// what the peer sent, with a random payload and authentication tag: what
// someone who can spoof the peer's address but has no key can send.
func (l *relayLeg) forgery(k int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ssrc uint32
	var seq uint16
	i := 0
	for s, q := range l.last {
		if i == k%len(l.last) {
			ssrc, seq = s, q
		}
		i++
	}
	return fakeSRTP(ssrc, seq+1000+uint16(k%2000))
}

// fakeSRTP is a valid RTP header (Opus, payload type 111) of source ssrc
// followed by random bytes: a payload and an authentication tag under no
// key the bot holds.
func fakeSRTP(ssrc uint32, seq uint16) []byte {
	b := make([]byte, 12+80+16)
	b[0], b[1] = 0x80, 111
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], rand.Uint32())
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	for i := 12; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return b
}

// answerRelay takes graphsim's SDP answer for the relayed call, leaves its
// candidates out (so that the bot learns the peer from its checks, through
// the relay) and passes it on to the bot. It keeps the peer's ICE ufrag.
type answerRelay struct {
	srv       *httptest.Server
	bot       atomic.Pointer[string]
	peerUfrag atomic.Pointer[string]
}

func newAnswerRelay(t *testing.T) *answerRelay {
	a := &answerRelay{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var kept []string
		for _, line := range strings.SplitAfter(string(raw), "\n") {
			if strings.HasPrefix(line, "a=candidate") || strings.HasPrefix(line, "a=end-of-candidates") {
				continue
			}
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
				a.peerUfrag.Store(&u)
			}
			kept = append(kept, line)
		}
		req, _ := http.NewRequest(http.MethodPost, *a.bot.Load()+r.URL.Path, strings.NewReader(strings.Join(kept, "")))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// candidatePort is the port of an a=candidate line of an offer.
var candidatePort = regexp.MustCompile(`(?m)^(a=candidate:\S+ \d+ \S+ \d+ \S+ )(\d+)( typ )`)

// iceUfrag is an offer's ICE ufrag.
var iceUfrag = regexp.MustCompile(`(?m)^a=ice-ufrag:(\S+)`)

// pace waits until send i of n, spread evenly over d from start, is due.
func pace(i, n int, start time.Time, d time.Duration) {
	for float64(i) >= float64(n)*float64(time.Since(start))/float64(d) {
		time.Sleep(time.Millisecond)
	}
}

// attackPlan is what the attacking process sends to the media port, spread
// evenly over For: random datagrams of 1 to 1,200 bytes (and Oversize ones
// of 2,100), STUN binding requests with a wrong MESSAGE-INTEGRITY (a tenth
// with ExactUser as username, two tenths each naming a LiveUfrags session,
// the rest nobody's), and SRTP packets of SSRCs under no key.
type attackPlan struct {
	Target                          string
	For                             time.Duration
	Until                           time.Time // nothing is sent after it
	Randoms, Oversize, STUNs, Fakes int
	LiveUfrags                      []string
	ExactUser                       string
	SSRCs                           []uint32
	Report                          string // where the attacker writes its attackReport
}

// attackReport is what the attacking process sent, by kind, and how long it
// waited for the bot to read (queueGate).
type attackReport struct {
	Randoms, Oversize, STUNs, Fakes int
	// Unrecognized are the random datagrams that are none of STUN, DTLS,
	// RTP or RTCP by their first byte (RFC 7983); UnknownUfragSTUNs the
	// STUN requests naming no session.
	Unrecognized, UnknownUfragSTUNs int
	Took, Held                      time.Duration
	MaxQueued                       int64
}

func (r attackReport) sent() int { return r.Randoms + r.Oversize + r.STUNs + r.Fakes }

// attackEnv names the file holding an attackPlan: set, it makes
// TestHostileMediaAttackerProcess the attacker.
const attackEnv = "MEDIABOT_TEST_ATTACK_PLAN"

// TestHostileMediaAttackerProcess is TestHostileMediaAttack's attacker, run
// as a process of its own, so that its sending costs the bot's process
// nothing and the bot's CPU can be measured alone. Without its plan it is
// skipped.
func TestHostileMediaAttackerProcess(t *testing.T) {
	path := os.Getenv(attackEnv)
	if path == "" {
		t.Skip("the attacking process of TestHostileMediaAttack, run by it")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var plan attackPlan
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatal(err)
	}
	target, err := net.ResolveUDPAddr("udp", plan.Target)
	if err != nil {
		t.Fatal(err)
	}
	// Everything is made before the clock starts.
	pool := make([]byte, 1<<16)
	for i := 0; i < len(pool); i += 8 {
		binary.LittleEndian.PutUint64(pool[i:], rand.Uint64())
	}
	// One schedule of it all, each kind spread evenly over the attack:
	// random datagrams from four sockets, STUN from a fifth, SRTP from a
	// sixth.
	const (
		random = iota
		oversize
		stunRequest
		fake
	)
	type datagram struct {
		due    float64 // share of the attack's time
		kind   int
		socket int
		b      []byte
		odd    bool // unrecognized, or naming no session
	}
	var schedule []datagram
	for i := range plan.Randoms {
		size := 1 + rand.N(1200)
		off := rand.N(len(pool) - size)
		c := pool[off]
		schedule = append(schedule, datagram{due: float64(i) / float64(plan.Randoms), kind: random, socket: i % 4, b: pool[off : off+size],
			odd: !(c <= 3 || (c >= 20 && c <= 63) || (c >= 128 && c <= 191))})
	}
	for i := range plan.Oversize {
		schedule = append(schedule, datagram{due: float64(i) / float64(plan.Oversize), kind: oversize, b: pool[:2100]})
	}
	for i := range plan.STUNs {
		user, nobody := fmt.Sprintf("u%07d:x%07d", i, i), true
		switch {
		case i%10 == 0:
			user, nobody = plan.ExactUser, false
		case i%10 < 5:
			user, nobody = plan.LiveUfrags[i%len(plan.LiveUfrags)]+fmt.Sprintf(":x%07d", i), false
		}
		m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user),
			stun.NewShortTermIntegrity("not the password of anyone here"), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		schedule = append(schedule, datagram{due: float64(i) / float64(plan.STUNs), kind: stunRequest, socket: 4, b: m.Raw, odd: nobody})
	}
	for i := range plan.Fakes {
		schedule = append(schedule, datagram{due: float64(i) / float64(plan.Fakes), kind: fake, socket: 5,
			b: fakeSRTP(plan.SSRCs[i%len(plan.SSRCs)], uint16(rand.Uint32()))})
	}
	slices.SortStableFunc(schedule, func(a, b datagram) int { return cmp.Compare(a.due, b.due) })
	var sockets [6]*net.UDPConn
	for i := range sockets {
		if sockets[i], err = net.DialUDP("udp", nil, target); err != nil {
			t.Fatal(err)
		}
		defer sockets[i].Close()
	}
	gate := queueGate{port: target.Port, high: gateHigh, low: gateLow}
	var rep attackReport
	start := time.Now()
	for i, d := range schedule {
		pace(i, len(schedule), start, plan.For)
		gate.wait()
		if time.Now().After(plan.Until) {
			break
		}
		if _, err := sockets[d.socket].Write(d.b); err != nil {
			continue
		}
		switch d.kind {
		case random:
			rep.Randoms++
			if d.odd {
				rep.Unrecognized++
			}
		case oversize:
			rep.Oversize++
		case stunRequest:
			rep.STUNs++
			if d.odd {
				rep.UnknownUfragSTUNs++
			}
		case fake:
			rep.Fakes++
		}
	}
	rep.Took, rep.Held, rep.MaxQueued = time.Since(start), gate.held, gate.maxSeen
	out, _ := json.Marshal(rep)
	if err := os.WriteFile(plan.Report, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The media port under attack with 20 live calls on it (two speakers each).
// During the calls, from another process's loopback sockets: 100,000 random
// datagrams, 100 oversize ones, 10,000 STUN binding requests with a wrong
// MESSAGE-INTEGRITY (half of them naming the live sessions, a tenth with the
// exact username of one), 10,000 SRTP packets of the calls' sources under no
// key; and, from the very address the bot knows one call's peer by (that
// call goes through a UDP relay, as through a NAT), 5,000 forged SRTP
// packets, 2,000 replays of the peer's own packets and 500 packets of
// sources it never declared. The calls lose nothing (the bot took every
// packet graphsim sent, every stream's stats say 0 lost, every participant's
// file holds its voice whole), the counters say what was refused, and the
// bot's CPU stays bounded.
func TestHostileMediaAttack(t *testing.T) {
	// The attack is paced over attackFor, and slowed down further when
	// the bot reads slower (queueGate): the calls last long enough for it
	// on a busy machine. Under the race detector, which makes every call's
	// set-up and every packet several times dearer, a quarter of it is
	// played, with 6 longer calls: enough to race, in about the same time.
	calls, scale := 20, 1
	callLength, attackFor := 16*time.Second, 5*time.Second
	if raceflag.Enabled() {
		calls, scale, callLength = 6, 4, 18*time.Second
	}
	randoms, oversize, stuns, fakes := 100_000/scale, 100/scale, 10_000/scale, 10_000/scale
	forged, replays, strangers := 5_000/scale, 2_000/scale, 500/scale
	const relayedCall = "a77ac000-0000-4000-8000-000000000000"

	sim := startSim(t)
	relay := newUDPRelay(t)
	answers := newAnswerRelay(t)
	tap := newGraphTap(t, sim, func(callID string, b mediasession.Blob) mediasession.Blob {
		if callID != relayedCall {
			return b
		}
		b.Offer = candidatePort.ReplaceAllString(b.Offer, "${1}"+strconv.Itoa(relay.port())+"${3}")
		u, err := url.Parse(b.AnswerURI)
		if err != nil {
			t.Error(err)
			return b
		}
		b.AnswerURI = answers.srv.URL + u.Path
		return b
	})
	events := &eventLog{}
	logs := &lockedbuf.Buffer{}
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, OutDir: t.TempDir(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Configure:  func(c *mediabot.Config) { c.GraphURL, c.DrainTimeout = tap.GraphURL(), 10*time.Millisecond },
		BotOptions: []mediabot.Option{mediabot.WithEventConsumer(events), steadyLoad()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("bot.Run: %v", err)
		}
		if t.Failed() {
			t.Logf("the bot's log:\n%s", logs.String())
		}
	})
	mediaPort := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Bot.MediaPorts()[0]))
	relay.bot.Store(&mediaPort)
	answers.bot.Store(&srv.URL)
	metrics := srv.OpsURL + "/metrics"
	counter := func(result string) float64 {
		return scrapeGauge(metrics, `mediabot_media_packets_total{result="`+result+`"}`)
	}

	// 20 calls, two speakers each, in eight voices: no two speakers of a
	// call alike, and no voice in two neighbouring calls.
	freqs := []float64{230, 310, 390, 470, 550, 630, 710, 790}
	freq := func(call, speaker int) float64 { return freqs[(2*call+speaker)%len(freqs)] }
	results := make([]*graphsim.CallResult, calls)
	var played sync.WaitGroup
	for i := range calls {
		sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: callLength}
		if i == 0 {
			sc.CallID = relayedCall
		}
		for j := range 2 {
			sc.Participants = append(sc.Participants, graphsim.Participant{DisplayName: fmt.Sprintf("Speaker %d.%d", i, j),
				Voice: graphsim.Voice{FundamentalHz: freq(i, j), SyllableHz: 3}})
		}
		played.Go(func() {
			res, err := sim.PlayCall(context.Background(), sc)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			results[i] = res
		})
	}
	testwait.For(t, 60*time.Second, "every call's streams to start", func() bool {
		return len(events.where(ofType(event.StreamStarted))) == 2*calls
	})
	var ssrcs []uint32
	for _, e := range events.where(ofType(event.StreamStarted)) {
		ssrcs = append(ssrcs, e.SSRC)
	}
	var firstMedia time.Time
	var live []string // the sessions' ICE ufrags
	for _, c := range srv.Bot.Calls() {
		if firstMedia.IsZero() || c.MediaStart.Before(firstMedia) {
			firstMedia = c.MediaStart
		}
		blob, _ := tap.Blob(t, c.ID)
		live = append(live, iceUfrag.FindStringSubmatch(blob.Offer)[1])
	}
	leg := relay.leg()
	peerUfrag := answers.peerUfrag.Load()
	if leg == nil || peerUfrag == nil {
		t.Fatal("the relayed call's media does not go through the relay")
	}
	relayedBlob, _ := tap.Blob(t, relayedCall)

	// The calls' own cost, for a second before the attack.
	baseStart, baseCPU := time.Now(), processCPU(t)
	time.Sleep(time.Second)
	baseRate := float64(processCPU(t)-baseCPU) / float64(time.Since(baseStart))
	// The calls end callLength after their media connected: the attack is
	// over, with a margin, before the first one does.
	until := firstMedia.Add(callLength - time.Second)
	if left := time.Until(until); left < attackFor {
		t.Fatalf("the calls took too long to connect: %s left for the attack", left)
	}
	before := map[string]float64{}
	for _, r := range []string{"srtp", "undecryptable", "replayed", "unknown_ssrc", "oversize", "unrecognized", "unknown_sender"} {
		before[r] = counter(r)
	}
	_, dropsBefore, _ := udpQueue(int(mediaPort.Port()))

	dir := t.TempDir()
	plan := attackPlan{Target: mediaPort.String(), For: attackFor, Until: until, Randoms: randoms, Oversize: oversize, STUNs: stuns, Fakes: fakes,
		LiveUfrags: live, ExactUser: iceUfrag.FindStringSubmatch(relayedBlob.Offer)[1] + ":" + *peerUfrag, SSRCs: ssrcs,
		Report: filepath.Join(dir, "report.json")}
	raw, _ := json.Marshal(plan)
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	attackerProc := exec.Command(os.Args[0], "-test.run=^TestHostileMediaAttackerProcess$", "-test.count=1")
	attackerProc.Env = append(os.Environ(), attackEnv+"="+filepath.Join(dir, "plan.json"))
	var attackerOut strings.Builder
	attackerProc.Stdout, attackerProc.Stderr = &attackerOut, &attackerOut

	start, startCPU := time.Now(), processCPU(t)
	if err := attackerProc.Start(); err != nil {
		t.Fatal(err)
	}
	// Meanwhile, from the relayed peer's own address: forgeries, replays
	// and strangers' packets.
	gate := queueGate{port: int(mediaPort.Port()), high: gateHigh, low: gateLow}
	var forgedSent, replaysSent, strangersSent int
	for i := range forged + replays + strangers {
		pace(i, forged+replays+strangers, start, attackFor)
		gate.wait()
		if time.Now().After(until) {
			break
		}
		// 10 forgeries, 4 replays and a stranger's packet in every 15.
		switch k := i % 15; {
		case k < 10:
			_, _ = leg.up.Write(leg.forgery(i))
			forgedSent++
		case k < 14:
			if pkt := leg.replay(); pkt != nil {
				_, _ = leg.up.Write(pkt)
				replaysSent++
			}
		default:
			_, _ = leg.up.Write(fakeSRTP(rand.Uint32()|1, uint16(i)))
			strangersSent++
		}
	}
	if err := attackerProc.Wait(); err != nil {
		t.Fatalf("the attacking process: %v\n%s", err, attackerOut.String())
	}
	var rep attackReport
	if raw, err := os.ReadFile(plan.Report); err != nil || json.Unmarshal(raw, &rep) != nil {
		t.Fatalf("the attacking process's report: %v\n%s", err, attackerOut.String())
	}
	// The bot has read everything once it counted every stranger's
	// datagram (looked at seldom: a scrape of /metrics costs the process
	// too).
	wantUnknown := before["unknown_sender"] + float64(rep.Randoms-rep.Unrecognized+rep.Fakes+rep.UnknownUfragSTUNs)
	for deadline := time.Now().Add(5 * time.Second); counter("unknown_sender") < wantUnknown && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	wall := time.Since(start)
	used := processCPU(t) - startCPU
	calm := time.Duration(baseRate * float64(wall))
	total := rep.sent() + forgedSent + replaysSent + strangersSent
	planned := randoms + oversize + stuns + fakes + forged + replays + strangers
	attackCost := used - calm
	t.Logf("attack: %d of %d datagrams sent in %s (%.0f/s), all read %s after the start; this process (bot, graphsim, relay) used %s of CPU meanwhile, the calls alone about %s (%.0f%% of a core before): the attack cost about %s, %.2f µs a datagram",
		total, planned, rep.Took.Round(time.Millisecond), float64(total)/rep.Took.Seconds(), wall.Round(time.Millisecond), used.Round(time.Millisecond),
		calm.Round(time.Millisecond), 100*baseRate, attackCost.Round(time.Millisecond), float64(attackCost.Microseconds())/float64(total))
	t.Logf("the attacker waited %s in all for the bot to read (at most %d KiB queued)", rep.Held.Round(time.Millisecond), rep.MaxQueued>>10)
	if used > 30*time.Second {
		t.Errorf("the attack cost the bot's process %s of CPU", used)
	}
	// On a machine too busy to give the bot's process a fair share of a
	// core, the attack, held back to the pace the bot reads at, may not all
	// go out before the calls end: what went out is checked, but a bot
	// that reads too slowly fails.
	if total < planned {
		t.Logf("only %d of %d datagrams sent before the calls' end drew near: the bot read %.0f a second", total, planned, float64(total)/rep.Took.Seconds())
	}
	if total < planned/4 {
		t.Errorf("the attacker sent only %d of %d datagrams in %s: the bot reads too slowly (or the machine is far too busy)", total, planned, rep.Took)
	}
	if _, drops, ok := udpQueue(int(mediaPort.Port())); ok && drops != dropsBefore {
		t.Errorf("the kernel dropped %d datagrams at the media socket", drops-dropsBefore)
	}

	played.Wait()
	waitIdle(t, srv)

	// The counters say what was refused, and nothing else was.
	got := map[string]float64{}
	for r := range before {
		got[r] = counter(r) - before[r]
	}
	t.Logf("mediabot_media_packets_total{result} since the attack began: %v", got)
	for r, want := range map[string]float64{"replayed": float64(replaysSent), "oversize": float64(rep.Oversize), "unrecognized": float64(rep.Unrecognized)} {
		if got[r] != want {
			t.Errorf(`mediabot_media_packets_total{result=%q} rose by %v, want %v`, r, got[r], want)
		}
	}
	// A stranger's packet is refused before decryption once the peer's
	// sources are all taken (unknown_ssrc), else it fails authentication
	// like a forgery (undecryptable): graphsim answers every section
	// sending, so two more sources may come.
	if got["undecryptable"] < float64(forgedSent) || got["undecryptable"]+got["unknown_ssrc"] != float64(forgedSent+strangersSent) {
		t.Errorf(`mediabot_media_packets_total: undecryptable rose by %v and unknown_ssrc by %v, want %d forgeries and %d strangers' packets between them`,
			got["undecryptable"], got["unknown_ssrc"], forgedSent, strangersSent)
	}
	// Besides the attack's, a peer's last packets after its session closed
	// are a stranger's too.
	if least := wantUnknown - before["unknown_sender"]; got["unknown_sender"] < least || got["unknown_sender"] > least+1000 {
		t.Errorf(`mediabot_media_packets_total{result="unknown_sender"} rose by %v, want %v and a few stragglers`, got["unknown_sender"], least)
	}
	if replaysSent < forgedSent*2/5/2 {
		t.Errorf("only %d replays sent", replaysSent)
	}

	// Every call whole: every packet graphsim sent was taken, every
	// stream's stats say nothing was lost, every file holds its voice.
	const rate = 16000
	sentPackets := 0
	for i, res := range results {
		if res == nil || res.Rejected != "" {
			t.Fatalf("call %d: %+v", i, res)
		}
		stats := map[uint32]*event.StreamCounters{}
		for _, e := range events.of(res.CallID, event.StreamStats) {
			stats[e.SSRC] = e.StreamCounters
		}
		for j, pid := range res.Participants {
			sentPackets += res.PacketsSent[pid]
			st := stats[res.SSRCs[pid]]
			switch {
			case st == nil:
				t.Errorf("call %d speaker %d: no stream.stats", i, j)
			case st.Lost != 0 || st.Packets != uint64(res.PacketsSent[pid]):
				t.Errorf("call %d speaker %d: %d packets received, %d lost (%d late, %d concealed); graphsim sent %d",
					i, j, st.Packets, st.Lost, st.Late, st.ConcealedPLC+st.ConcealedFEC, res.PacketsSent[pid])
			case st.Late != 0:
				t.Logf("call %d speaker %d: %d packets late", i, j, st.Late)
			}
			pcm, gotRate := wavtest.Read(t, filepath.Join(srv.OutDir, res.CallID, pid+".wav"))
			if gotRate != rate {
				t.Fatalf("call %d speaker %d: rate %d", i, j, gotRate)
			}
			gotSec, wantSec := float64(len(pcm))/rate, callLength.Seconds()
			if gotSec < wantSec*0.95 || gotSec > wantSec*1.05+0.3 {
				t.Errorf("call %d speaker %d: %.2f s of audio, want about %.2f s", i, j, gotSec, wantSec)
			}
			mid := len(pcm) / 2
			speech := pcm[max(0, mid-rate):min(len(pcm), mid+rate)]
			if d := audiotest.Dominant(speech, rate, freqs); freqs[d] != freq(i, j) {
				t.Errorf("call %d speaker %d: dominant frequency %.0f Hz, want %.0f Hz", i, j, freqs[d], freq(i, j))
			}
			if audiotest.RMS(speech) < 500 {
				t.Errorf("call %d speaker %d: speech RMS %.0f, too quiet", i, j, audiotest.RMS(speech))
			}
		}
	}
	if srtp := counter("srtp"); srtp != float64(sentPackets) {
		t.Errorf(`mediabot_media_packets_total{result="srtp"} is %v, graphsim sent %d`, srtp, sentPackets)
	}
}

// where is every event of any call that keep keeps.
func (l *eventLog) where(keep func(event.Event) bool) []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Event
	for _, e := range l.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// ofType keeps the events of type typ.
func ofType(typ event.Type) func(event.Event) bool {
	return func(e event.Event) bool { return e.Type == typ }
}
