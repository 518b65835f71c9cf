package graphsim

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// The level of a frame is its RMS in -dBov, with the V bit unless the
// frame is silent: a full-scale square wave is 0 dBov, a full-scale sine
// -3 dBov, digital silence 127 with V clear.
func TestAudioLevelIsTheFramesRMSInMinusDBov(t *testing.T) {
	square, sine, quiet := make([]int16, opusFrame), make([]int16, opusFrame), make([]int16, opusFrame)
	for i := range square {
		square[i] = math.MaxInt16
		if i%2 == 1 {
			square[i] = math.MinInt16
		}
		sine[i] = int16(math.MaxInt16 * math.Sin(2*math.Pi*1000*float64(i)/opusRate))
		quiet[i] = int16(i % 2) // RMS √½: -93.3 dBov
	}
	tests := []struct {
		name string
		pcm  []int16
		want byte
	}{
		{"square", square, 0x80 | 0},
		{"sine", sine, 0x80 | 3},
		{"quiet", quiet, 0x80 | 93},
		{"silence", make([]int16, opusFrame), 127},
		{"nothing", nil, 127},
	}
	for _, tt := range tests {
		if got := audioLevel(tt.pcm); got != tt.want {
			t.Errorf("%s: level byte %#x, want %#x", tt.name, got, tt.want)
		}
	}
	// The cast speaks loud enough to be taken for voice, on every frame.
	for _, c := range Cast {
		for codec, enc := range map[string]func() (encoding, error){
			"opus": func() (encoding, error) { return c.Voice.encodeOpus(50) },
			"pcmu": func() (encoding, error) { return c.Voice.encodePCMU(50), nil },
		} {
			e, err := enc()
			if err != nil {
				t.Fatal(err)
			}
			if len(e.levels) != 50 || len(e.payloads) != 50 {
				t.Fatalf("%s %s: %d levels for %d packets", c.Name, codec, len(e.levels), len(e.payloads))
			}
			for k, l := range e.levels {
				if l&0x80 == 0 || l&0x7f >= 60 || l&0x7f < 10 {
					t.Errorf("%s %s frame %d: level byte %#x, want voiced, between -10 and -60 dBov", c.Name, codec, k, l)
					break
				}
			}
		}
	}
}

// Silence is encoded once per codec by the participants' encoder: small
// Opus packets (speech takes 100 bytes and more), µ-law zeros for PCMU.
func TestSilenceIsEncodedOnceAndSmall(t *testing.T) {
	var c encodeCache
	opusSilence, err := c.silence(opusSend)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.silence(opusSend)
	if &again[0] != &opusSilence[0] {
		t.Error("silence encoded twice")
	}
	if n := len(opusSilence); n == 0 || n > 60 {
		t.Errorf("Opus silence is %d bytes, want a few dozen at most", n)
	}
	voice, _ := c.get(Cast[0].Voice, opusSend, 10)
	for k, p := range voice.payloads {
		if len(p) <= 2*len(opusSilence) {
			t.Errorf("voice packet %d is %d bytes, not much more than silence (%d)", k, len(p), len(opusSilence))
		}
	}
	pcmuSilence, err := c.silence(pcmuSend)
	if err != nil || !bytes.Equal(pcmuSilence, bytes.Repeat([]byte{0xff}, pcmuFrame)) {
		t.Errorf("PCMU silence %x, %v; want 160 bytes of µ-law 0", pcmuSilence, err)
	}
}

// rtpLog is a bot's media side that keeps every RTP packet of each track
// as received, decrypted.
type rtpLog struct {
	mu     sync.Mutex
	tracks map[uint32]*mediasession.Track
	pkts   map[uint32][]*rtp.Packet
}

type rtpLogTrack struct {
	log  *rtpLog
	ssrc uint32
}

func (h rtpLogTrack) Push(b []byte, _ time.Time) {
	p := &rtp.Packet{}
	if err := p.Unmarshal(bytes.Clone(b)); err != nil {
		return
	}
	h.log.mu.Lock()
	h.log.pkts[h.ssrc] = append(h.log.pkts[h.ssrc], p)
	h.log.mu.Unlock()
}

func (rtpLogTrack) Flush() {}

// newLoggingBot is a real bot media session over real UDP on loopback,
// with sections audio sections, that logs what it receives; it returns the
// session's blob.
func newLoggingBot(t *testing.T, sections int) (*mediasession.Session, string, *rtpLog) {
	t.Helper()
	engine, err := mediasession.NewEngine(mediasession.EngineConfig{BindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	r := chi.NewRouter()
	r.Method(http.MethodPost, "/media/sessions/{sessionId}/answer", engine.AnswerHandler())
	answers := httptest.NewServer(r)
	t.Cleanup(answers.Close)
	log := &rtpLog{tracks: map[uint32]*mediasession.Track{}, pkts: map[uint32][]*rtp.Packet{}}
	sess, err := engine.NewSession(mediasession.SessionConfig{CallID: "levels", AudioSections: sections,
		AnswerURI: func(id string) string { return answers.URL + "/media/sessions/" + id + "/answer" },
		OnTrack: func(tr *mediasession.Track) mediasession.PacketHandler {
			log.mu.Lock()
			log.tracks[tr.SSRC] = tr
			log.mu.Unlock()
			return rtpLogTrack{log: log, ssrc: tr.SSRC}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	blob, err := sess.Blob().Encode()
	if err != nil {
		t.Fatal(err)
	}
	return sess, blob, log
}

// placeToUser has the bot place a call with app-hosted media (blob) to a
// user registered with callee, and returns graphsim's result once the call
// has ended.
func placeToUser(t *testing.T, callee Callee, blob string) *PlacedResult {
	t.Helper()
	e := newPlacedEnv(t)
	const user = "5e5e5e5e-0000-4000-8000-0000000000aa"
	d := e.sim.AddUser(user, callee)
	req := e.request()
	req.MediaConfig = signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob}
	req.Targets = []signaling.InvitationParticipantInfo{signaling.UserTarget(user, placedTenant)}
	e.create(t, req)
	ctx := t.Context()
	res, err := d.Wait(ctx)
	if err != nil {
		t.Fatal("wait:", err)
	}
	return res
}

// levelOf is the audio level byte p carries at id, -1 for none.
func levelOf(p *rtp.Packet, id uint8) int {
	if !p.Extension || p.ExtensionProfile != rtp.ExtensionProfileOneByte {
		return -1
	}
	if b := p.GetExtension(id); len(b) == 1 {
		return int(b[0])
	}
	return -1
}

// A call played to a real bot session: a participant with AudioLevels and
// SilenceBetween sends every 20 ms from when it joins, its levels at the negotiated id (under
// -60 dBov and voiced while it talks, 127 and not voiced in the silence
// between), with sequence numbers and timestamps continuous across its
// pauses; one with AudioLevels alone sends only while it talks, its RTP
// timestamps jumping across the pause; one with neither sends no
// extension.
func TestParticipantsSendLevelsAndSilenceBetweenTalkSpans(t *testing.T) {
	spans := []Span{{200 * time.Millisecond, 600 * time.Millisecond}, {time.Second, 1400 * time.Millisecond}}
	sess, blob, log := newLoggingBot(t, 4)
	res := placeToUser(t, Callee{Scenario: Scenario{Duration: 2 * time.Second, Participants: []Participant{
		{DisplayName: "Silent between", Voice: Cast[0].Voice, Talk: spans, AudioLevels: true, SilenceBetween: true, JoinAt: 100 * time.Millisecond},
		{DisplayName: "DTX", Voice: Cast[1].Voice, Talk: spans, AudioLevels: true},
		{DisplayName: "No levels", Voice: Cast[2].Voice, Talk: spans},
	}}}, blob)
	sess.Close()
	if res.MediaConnected.IsZero() {
		t.Fatalf("media never connected: %+v", res)
	}
	const frames = 100 // 2 s
	log.mu.Lock()
	defer log.mu.Unlock()
	var silence []byte
	for i, pid := range res.Participants {
		ssrc := res.SSRCs[pid]
		tr, pkts := log.tracks[ssrc], log.pkts[ssrc]
		if tr == nil || len(pkts) == 0 {
			t.Fatalf("participant %d: no track on SSRC %d", i, ssrc)
		}
		if tr.AudioLevelID != 1 {
			t.Errorf("participant %d: the bot's track has audio level id %d, want 1, the id it offered", i, tr.AudioLevelID)
		}
		t.Logf("participant %d: %d packets sent, %d received, audio level id %d", i, res.PacketsSent[pid], len(pkts), tr.AudioLevelID)
		if got, sent := len(pkts), res.PacketsSent[pid]; got < sent*9/10 {
			t.Errorf("participant %d: %d of %d packets arrived", i, got, sent)
		}
		jumps := 0
		for k := 1; k < len(pkts); k++ {
			dseq := pkts[k].SequenceNumber - pkts[k-1].SequenceNumber
			dts := pkts[k].Timestamp - pkts[k-1].Timestamp
			if dseq == 0 || dseq > 10 {
				t.Fatalf("participant %d: sequence %d after %d", i, pkts[k].SequenceNumber, pkts[k-1].SequenceNumber)
			}
			switch {
			case dts == uint32(dseq)*opusFrame:
			case dts > uint32(dseq)*opusFrame && i > 0:
				jumps++
				if !pkts[k].Marker {
					t.Errorf("participant %d: talk resumes at packet %d without the marker bit", i, k)
				}
			default:
				t.Errorf("participant %d: timestamp +%d over %d packets at packet %d", i, dts, dseq, k)
			}
		}
		switch i {
		case 0: // levels, and silence between
			if sent := res.PacketsSent[pid]; sent != frames-5 {
				t.Errorf("sent %d packets, want one a frame from joining (frame 5) to the end (%d)", sent, frames)
			}
			if jumps != 0 {
				t.Errorf("timestamps jump %d times", jumps)
			}
			var runs []int // lengths of the runs of talk packets
			talked := false
			for k, p := range pkts {
				level := levelOf(p, tr.AudioLevelID)
				talk := len(p.Payload) > 60
				switch {
				case talk && (level < 0 || level&0x80 == 0 || level&0x7f >= 60):
					t.Errorf("talk packet %d: level byte %d, want voiced under -60 dBov", k, level)
				case !talk && level != 127:
					t.Errorf("silence packet %d: level byte %d, want 127, V clear", k, level)
				case !talk && silence == nil:
					silence = p.Payload
				case !talk && !bytes.Equal(p.Payload, silence):
					t.Errorf("silence packet %d differs: % x, not % x", k, p.Payload, silence)
				}
				if p.Marker && k > 0 {
					t.Errorf("packet %d has the marker bit: the stream never paused", k)
				}
				if talk && !talked {
					runs = append(runs, 0)
				}
				if talk {
					runs[len(runs)-1]++
				}
				talked = talk
			}
			if len(runs) != 2 || runs[0] < 18 || runs[1] < 18 || runs[0] > 20 || runs[1] > 20 {
				t.Errorf("talk runs %v, want two of 20 packets (400 ms)", runs)
			}
			if pkts[0].Marker != true || len(pkts[0].Payload) > 60 {
				t.Errorf("first packet: marker %v, %d bytes; want the marked start of the stream, silence", pkts[0].Marker, len(pkts[0].Payload))
			}
		case 1: // levels, nothing between (DTX)
			if sent := res.PacketsSent[pid]; sent != 40 {
				t.Errorf("sent %d packets, want the 40 of its talk spans", sent)
			}
			if jumps != 1 {
				t.Errorf("timestamps jump %d times, want once, across the pause", jumps)
			}
			for k, p := range pkts {
				if level := levelOf(p, tr.AudioLevelID); level < 0 || level&0x80 == 0 || level&0x7f >= 60 {
					t.Errorf("packet %d: level byte %d, want voiced under -60 dBov", k, level)
					break
				}
			}
		case 2: // no levels
			for k, p := range pkts {
				if p.Extension || len(p.Extensions) != 0 {
					t.Errorf("packet %d carries header extensions %+v", k, p.Extensions)
					break
				}
			}
		}
	}
	if silence == nil {
		t.Fatal("no silence packet arrived")
	}
	if len(silence) > 60 {
		t.Errorf("silence packets are %d bytes", len(silence))
	}
}

// Speakers rotating through the sections carry their levels at the
// section's id, and only talkers are sent: SilenceBetween is ignored there.
func TestRotatingSpeakersSendLevels(t *testing.T) {
	sess, blob, log := newLoggingBot(t, 4)
	var parts []Participant
	for i, c := range Cast[:5] {
		start := time.Duration(i) * 200 * time.Millisecond
		parts = append(parts, Participant{DisplayName: c.Name, Voice: c.Voice, AudioLevels: i != 4, SilenceBetween: true,
			Talk: []Span{{start, start + 500*time.Millisecond}}})
	}
	res := placeToUser(t, Callee{Scenario: Scenario{Duration: 1500 * time.Millisecond, Participants: parts}}, blob)
	sess.Close()
	log.mu.Lock()
	defer log.mu.Unlock()
	bySpeaker := map[uint32][]int{} // CSRC: the level bytes of its packets
	for ssrc, pkts := range log.pkts {
		id := log.tracks[ssrc].AudioLevelID
		if id != 1 {
			t.Errorf("section SSRC %d: audio level id %d, want 1", ssrc, id)
		}
		for _, p := range pkts {
			if len(p.CSRC) != 1 {
				t.Fatalf("a rotated packet with CSRCs %v", p.CSRC)
			}
			if len(p.Payload) <= 60 {
				t.Errorf("a packet of %d bytes: silence sent on a rotating section", len(p.Payload))
			}
			bySpeaker[p.CSRC[0]] = append(bySpeaker[p.CSRC[0]], levelOf(p, id))
		}
	}
	for i, pid := range res.Participants {
		levels := bySpeaker[res.SSRCs[pid]]
		if sent := res.PacketsSent[pid]; sent != 25 || len(levels) < sent*9/10 {
			t.Errorf("speaker %d: %d packets sent, %d received; want the 25 of its talk span", i, sent, len(levels))
		}
		for _, l := range levels {
			if i == 4 && l != -1 {
				t.Errorf("speaker %d without AudioLevels sent level %d", i, l)
				break
			}
			if i < 4 && (l < 0 || l&0x80 == 0 || l&0x7f >= 60) {
				t.Errorf("speaker %d: level byte %d, want voiced under -60 dBov", i, l)
				break
			}
		}
	}
}

// graphsim's answer echoes the offer's audio level extension id on every
// section, and its sender knows it as the bot's track does.
func TestMediaPeerNegotiatesTheBotsAudioLevelID(t *testing.T) {
	voices := []Voice{{FundamentalHz: 300}, {FundamentalHz: 520}}
	p := playToSession(t, []sendCodec{opusSend, pcmuSend}, voices, 10)
	if len(p.peer.levelIDs) != 2 {
		t.Fatalf("peer level ids %v, want one per track", p.peer.levelIDs)
	}
	for i, ssrc := range p.peer.ssrcs {
		tr := p.got.tracks[ssrc]
		if tr == nil {
			t.Fatalf("speaker %d: no track", i)
		}
		if p.peer.levelIDs[i] != 1 || tr.AudioLevelID != 1 {
			t.Errorf("speaker %d: graphsim sends levels under id %d, the bot reads them under %d; want 1", i, p.peer.levelIDs[i], tr.AudioLevelID)
		}
	}
}

// Putting a level on a packet allocates nothing, and writes RFC 8285's
// one-byte form: profile 0xBEDE, one word with the element (id, length-1)
// and the level.
func TestSetLevelWritesTheOneByteFormWithoutAllocating(t *testing.T) {
	var (
		h     rtp.Header
		ext   [1]rtp.Extension
		level = []byte{0x80 | 17}
	)
	if allocs := testing.AllocsPerRun(100, func() {
		h = rtp.Header{Version: 2, SequenceNumber: 7}
		setLevel(&h, &ext, 3, level)
	}); allocs != 0 {
		t.Errorf("%v allocations a packet", allocs)
	}
	b, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xbe, 0xde, 0, 1, 3 << 4, 0x80 | 17, 0, 0}; b[0]&0x10 == 0 || !bytes.Equal(b[12:], want) {
		t.Errorf("header % x, want the X bit and % x after the SSRC", b, want)
	}
	h = rtp.Header{Version: 2}
	setLevel(&h, &ext, 0, level)
	if h.Extension || len(h.Extensions) != 0 {
		t.Error("id 0 put an extension on the packet")
	}
}
