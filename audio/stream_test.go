package audio

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/pion/rtp"
	"gopkg.in/hraban/opus.v2"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
)

const (
	testSSRC  = 0x11223344
	testCall  = "call-1"
	toneHz    = 600.0
	opusClock = 48000
)

// candidates are the frequencies a decoded tone is told apart from.
var candidates = []float64{300, toneHz, 1000, 1500}

// mediaStart is the test calls' media clock origin; the first packet
// arrives firstOffset after it.
var mediaStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var alice = &event.Identity{Kind: event.KindUser, ID: "a1", DisplayName: "Alice"}

const firstOffset = 500 * time.Millisecond

// sender encodes a continuous sine into Opus and wraps it in RTP the way a
// remote WebRTC stack would.
type sender struct {
	t     testing.TB
	enc   *opus.Encoder
	seq   uint16
	ts    uint32
	csrc  []uint32
	phase float64
	pcm   []int16
	buf   []byte
}

func newSender(t testing.TB) *sender {
	t.Helper()
	enc, err := opus.NewEncoder(opusClock, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	return &sender{t: t, enc: enc, buf: make([]byte, 4000)}
}

// payload encodes the next ms of the tone.
func (s *sender) payload(ms int) []byte {
	s.t.Helper()
	n := opusClock * ms / 1000
	s.pcm = s.pcm[:0]
	for range n {
		s.pcm = append(s.pcm, int16(8000*math.Sin(s.phase)))
		s.phase += 2 * math.Pi * toneHz / opusClock
	}
	m, err := s.enc.Encode(s.pcm, s.buf)
	if err != nil {
		s.t.Fatal(err)
	}
	return append([]byte(nil), s.buf[:m]...)
}

// next returns the RTP packet of the next ms of the tone and advances
// sequence number and timestamp.
func (s *sender) next(ms int) []byte {
	s.t.Helper()
	b := s.packet(s.payload(ms))
	s.ts += uint32(opusClock * ms / 1000)
	return b
}

// packet wraps payload in RTP at the current sequence number and timestamp
// and advances the sequence number.
func (s *sender) packet(payload []byte) []byte {
	s.t.Helper()
	p := rtp.Packet{
		Header: rtp.Header{
			Version: 2, PayloadType: 111, SequenceNumber: s.seq, Timestamp: s.ts,
			SSRC: testSSRC, CSRC: s.csrc,
		},
		Payload: payload,
	}
	b, err := p.Marshal()
	if err != nil {
		s.t.Fatal(err)
	}
	s.seq++
	return b
}

// frames is a FrameConsumer that keeps copies of what it is given.
type frames struct{ got []Frame }

func (c *frames) Frame(f *Frame) {
	g := *f
	g.PCM = append([]int16(nil), f.PCM...)
	c.got = append(c.got, g)
}

func (c *frames) pcm() []int16 {
	var all []int16
	for _, f := range c.got {
		all = append(all, f.PCM...)
	}
	return all
}

type nopConsumer struct{}

func (nopConsumer) Frame(*Frame) {}

func newTestStream(t testing.TB, rate int, c FrameConsumer) *Stream {
	t.Helper()
	st, err := NewStream(StreamConfig{
		CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", ClockRate: opusClock,
		SampleRate: rate, MediaStart: mediaStart, Consumer: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// arrival is when packet i of a steady 20 ms stream arrives.
func arrival(i int) time.Time {
	return mediaStart.Add(firstOffset + time.Duration(i)*FrameMs*time.Millisecond)
}

func checkTone(t *testing.T, pcm []int16, rate int) {
	t.Helper()
	skip := rate * 40 / 1000 // the encoder's start-up
	if len(pcm) <= skip {
		t.Fatalf("only %d samples", len(pcm))
	}
	if got := audiotest.Dominant(pcm[skip:], rate, candidates); candidates[got] != toneHz {
		t.Errorf("dominant frequency %v Hz, want %v Hz (power %g)", candidates[got], toneHz,
			audiotest.Power(pcm[skip:], rate, toneHz))
	}
}

func TestStreamInOrderPackets(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			c := &frames{}
			st := newTestStream(t, rate, c)
			snd := newSender(t)
			snd.seq, snd.ts = 1000, 123456
			const n = 25
			for i := range n {
				st.Push(snd.next(20), arrival(i))
			}
			if len(c.got) != n {
				t.Fatalf("%d frames, want %d", len(c.got), n)
			}
			wantLen := rate * FrameMs / 1000
			for i, f := range c.got {
				want := Frame{
					CallID: testCall, SSRC: testSSRC, Seq: uint16(1000 + i),
					RTPTimestamp: 123456 + uint32(i*960), MediaTimeMs: 500 + int64(i)*FrameMs,
					Arrival: arrival(i), SampleRate: rate, MimeType: "audio/opus", Duration: FrameMs * time.Millisecond,
				}
				if len(f.PCM) != wantLen {
					t.Fatalf("frame %d: %d samples, want %d", i, len(f.PCM), wantLen)
				}
				f.PCM = nil
				if !reflect.DeepEqual(f, want) {
					t.Fatalf("frame %d = %+v, want %+v", i, f, want)
				}
			}
			checkTone(t, c.pcm(), rate)
			s := st.Stats()
			if s.Packets != n || s.Lost != 0 || s.Late != 0 || s.Duplicates != 0 || s.DecodeErrors != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestStreamPacketDurations(t *testing.T) {
	tests := []struct {
		name       string
		ms         int // per packet
		packets    int
		wantFrames int
	}{
		{"40 ms packets give 2 frames each", 40, 6, 12},
		{"60 ms packets give 3 frames each", 60, 4, 12},
		{"10 ms packets are joined in pairs", 10, 20, 10},
		{"mixed 10 and 40 ms packets", 0, 8, 10}, // 10+40 alternating: 200 ms
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &frames{}
			st := newTestStream(t, 16000, c)
			snd := newSender(t)
			snd.ts = 9600
			at := mediaStart.Add(firstOffset)
			total := 0
			for i := range tt.packets {
				ms := tt.ms
				if ms == 0 {
					ms = 10 + 30*(i%2)
				}
				st.Push(snd.next(ms), at)
				at = at.Add(time.Duration(ms) * time.Millisecond)
				total += ms
			}
			if len(c.got) != tt.wantFrames {
				t.Fatalf("%d frames, want %d", len(c.got), tt.wantFrames)
			}
			for i, f := range c.got {
				if len(f.PCM) != 320 {
					t.Fatalf("frame %d: %d samples", i, len(f.PCM))
				}
				if want := 500 + int64(i)*FrameMs; f.MediaTimeMs != want {
					t.Errorf("frame %d: MediaTimeMs %d, want %d", i, f.MediaTimeMs, want)
				}
				if want := 9600 + uint32(i*960); f.RTPTimestamp != want {
					t.Errorf("frame %d: RTPTimestamp %d, want %d", i, f.RTPTimestamp, want)
				}
			}
			if got := len(c.pcm()); got != total*16 {
				t.Errorf("%d samples delivered, want %d (no audio lost)", got, total*16)
			}
			checkTone(t, c.pcm(), 16000)
		})
	}
}

func TestStreamShortPacketsAcrossLoss(t *testing.T) {
	c := &frames{}
	st := newTestStream(t, 16000, c)
	snd := newSender(t)
	for i := range 10 {
		b := snd.next(10)
		if i == 5 {
			continue // lost: concealed for its 10 ms, inside the frame packet 4 began
		}
		st.Push(b, arrival(0).Add(time.Duration(i)*10*time.Millisecond))
	}
	st.Flush()
	var times []int64
	for _, f := range c.got {
		times = append(times, f.MediaTimeMs)
	}
	want := []int64{500, 520, 540, 560, 580}
	if len(times) != len(want) {
		t.Fatalf("frame times %v, want %v", times, want)
	}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("frame times %v, want %v", times, want)
		}
	}
	joined := c.got[2]
	if !joined.Concealed || audiotest.RMS(joined.PCM[:160]) == 0 || audiotest.RMS(joined.PCM[160:]) == 0 {
		t.Errorf("frame at 540: want 10 ms of tone then 10 ms of concealment, marked concealed")
	}
	if s := st.Stats(); s.Lost != 1 || s.ConcealedFEC+s.ConcealedPLC != 1 {
		t.Errorf("stats %+v, want 1 lost and concealed", s)
	}
}

func TestStreamCounters(t *testing.T) {
	corruptOpus := []byte{0xFF, 0x00} // code 3 packet with 0 frames
	tests := []struct {
		name string
		// send pushes packets; snd is at seq 0 / ts 0 unless start is set.
		send       func(st *Stream, snd *sender)
		wantFrames int
		want       func(*Stream) bool
		check      func(t *testing.T, got []Frame)
	}{
		{
			name: "a sequence gap counts lost packets",
			send: func(st *Stream, snd *sender) {
				for i := range 10 {
					b := snd.next(20)
					if i == 3 || i == 4 {
						continue
					}
					st.Push(b, arrival(i))
				}
			},
			wantFrames: 10, // 8 decoded, 2 concealed
			want: func(st *Stream) bool {
				s := st.Stats()
				return s.Lost == 2 && s.Packets == 8 && s.ConcealedFEC+s.ConcealedPLC == 2
			},
		},
		{
			name: "a duplicate is counted and dropped",
			send: func(st *Stream, snd *sender) {
				for i := range 5 {
					b := snd.next(20)
					st.Push(b, arrival(i))
					if i == 2 {
						st.Push(b, arrival(i))
					}
				}
			},
			wantFrames: 5,
			want:       func(st *Stream) bool { s := st.Stats(); return s.Duplicates == 1 && s.Lost == 0 },
		},
		{
			name: "a packet inside the window is put back in order",
			send: func(st *Stream, snd *sender) {
				var held []byte
				for i := range 6 {
					b := snd.next(20)
					switch i {
					case 2:
						held = b
					case 3:
						st.Push(b, arrival(i))
						st.Push(held, arrival(i))
					default:
						st.Push(b, arrival(i))
					}
				}
			},
			wantFrames: 6,
			want:       func(st *Stream) bool { s := st.Stats(); return s.Reordered == 1 && s.Late == 0 && s.Lost == 0 },
		},
		{
			name: "a packet whose gap was already concealed is late and dropped",
			send: func(st *Stream, snd *sender) {
				var held []byte
				for i := range 8 {
					b := snd.next(20)
					if i == 2 {
						held = b
						continue
					}
					st.Push(b, arrival(i))
				}
				st.Push(held, arrival(8))
			},
			wantFrames: 8, // 7 decoded, 1 concealed
			want:       func(st *Stream) bool { s := st.Stats(); return s.Late == 1 && s.Lost == 1 },
		},
		{
			name: "garbage and corrupt Opus are decode errors, later packets decode",
			send: func(st *Stream, snd *sender) {
				st.Push(snd.next(20), arrival(0))
				st.Push([]byte{0x80, 0x6f, 0x00}, arrival(1))             // truncated header
				st.Push([]byte("not rtp at all, not at all"), arrival(1)) // CSRC count 14, too short
				st.Push(snd.packet(corruptOpus), arrival(1))
				snd.ts += 960
				st.Push(snd.packet(nil), arrival(2)) // empty payload
				snd.ts += 960
				for i := 3; i < 6; i++ {
					st.Push(snd.next(20), arrival(i))
				}
			},
			wantFrames: 4,
			want:       func(st *Stream) bool { s := st.Stats(); return s.DecodeErrors == 4 && s.Lost == 0 },
		},
		{
			name: "sequence numbers wrap around",
			send: func(st *Stream, snd *sender) {
				snd.seq = 65530
				for i := range 12 {
					b := snd.next(20)
					if i == 8 { // seq 2
						continue
					}
					st.Push(b, arrival(i))
				}
			},
			wantFrames: 12, // 11 decoded, 1 concealed
			want: func(st *Stream) bool {
				s := st.Stats()
				return s.Lost == 1 && s.Late == 0 && s.Duplicates == 0 && s.Packets == 11
			},
		},
		{
			name: "timestamps wrap around",
			send: func(st *Stream, snd *sender) {
				snd.ts = math.MaxUint32 - 3*960 + 1
				for i := range 8 {
					st.Push(snd.next(20), arrival(i))
				}
			},
			wantFrames: 8,
			check: func(t *testing.T, got []Frame) {
				for i, f := range got {
					if want := 500 + int64(i)*20; f.MediaTimeMs != want {
						t.Errorf("frame %d: MediaTimeMs %d, want %d", i, f.MediaTimeMs, want)
					}
					if want := uint32(math.MaxUint32-3*960+1) + uint32(i*960); f.RTPTimestamp != want {
						t.Errorf("frame %d: RTPTimestamp %d, want %d", i, f.RTPTimestamp, want)
					}
				}
			},
		},
		{
			name: "a DTX pause moves the media clock, not the loss count",
			send: func(st *Stream, snd *sender) {
				for i := range 3 {
					st.Push(snd.next(20), arrival(i))
				}
				snd.ts += opusClock // 1 s of silence, no packets
				for i := 3; i < 6; i++ {
					st.Push(snd.next(20), arrival(i+50))
				}
			},
			wantFrames: 6,
			want:       func(st *Stream) bool { return st.Stats().Lost == 0 },
			check: func(t *testing.T, got []Frame) {
				want := []int64{500, 520, 540, 1560, 1580, 1600}
				for i, f := range got {
					if f.MediaTimeMs != want[i] {
						t.Errorf("frame %d: MediaTimeMs %d, want %d", i, f.MediaTimeMs, want[i])
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &frames{}
			st := newTestStream(t, 16000, c)
			tt.send(st, newSender(t))
			st.Flush()
			if len(c.got) != tt.wantFrames {
				t.Errorf("%d frames, want %d", len(c.got), tt.wantFrames)
			}
			if tt.want != nil && !tt.want(st) {
				t.Errorf("stats %+v", st.Stats())
			}
			if tt.check != nil {
				tt.check(t, c.got)
			}
		})
	}
}

func TestStreamCSRCNamesTheSpeaker(t *testing.T) {
	var asked []uint32
	c := &frames{}
	st, err := NewStream(StreamConfig{
		CallID: testCall, SSRC: testSSRC, MimeType: "audio/OPUS", SampleRate: 16000,
		MediaStart: mediaStart, Consumer: c,
		Participant: func(id uint32) (string, *event.Identity) {
			asked = append(asked, id)
			if id == 4242 {
				return "alice", alice
			}
			return "", nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	snd := newSender(t)
	snd.csrc = []uint32{4242}
	st.Push(snd.next(20), arrival(0))
	snd.csrc = nil
	st.Push(snd.next(20), arrival(1))
	if len(c.got) != 2 {
		t.Fatalf("%d frames", len(c.got))
	}
	if f := c.got[0]; f.CSRC != 4242 || f.SourceID() != 4242 || f.ParticipantID != "alice" {
		t.Errorf("frame with CSRC: CSRC %d, SourceID %d, ParticipantID %q", f.CSRC, f.SourceID(), f.ParticipantID)
	}
	if f := c.got[1]; f.CSRC != 0 || f.SourceID() != testSSRC || f.ParticipantID != "" {
		t.Errorf("frame without CSRC: CSRC %d, SourceID %d, ParticipantID %q", f.CSRC, f.SourceID(), f.ParticipantID)
	}
	if len(asked) != 2 || asked[0] != 4242 || asked[1] != testSSRC {
		t.Errorf("Participant asked for %v, want [4242 %d]", asked, testSSRC)
	}
}

func TestNewStreamRefusesWhatItCannotDecode(t *testing.T) {
	tests := []struct {
		name string
		cfg  StreamConfig
		want error
	}{
		{"video", StreamConfig{MimeType: "video/VP8", SampleRate: 16000}, ErrUnsupportedCodec},
		{"no codec", StreamConfig{SampleRate: 16000}, ErrUnsupportedCodec},
		{"8 kHz output", StreamConfig{MimeType: "audio/opus", SampleRate: 8000}, ErrSampleRate},
		{"no output rate", StreamConfig{MimeType: "audio/opus"}, ErrSampleRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := NewStream(tt.cfg)
			if !errors.Is(err, tt.want) || st != nil {
				t.Errorf("NewStream = %v, %v; want %v", st, err, tt.want)
			}
		})
	}
}

func TestStreamJitter(t *testing.T) {
	tests := []struct {
		name  string
		noise func(i int) time.Duration
		check func(ms float64) bool
	}{
		{"steady arrivals have no jitter", func(int) time.Duration { return 0 },
			func(ms float64) bool { return math.Abs(ms) < 0.01 }},
		{"arrivals 5 ms early and late have jitter", func(i int) time.Duration {
			if i%2 == 0 {
				return 5 * time.Millisecond
			}
			return -5 * time.Millisecond
		}, func(ms float64) bool { return ms > 5 && ms <= 10.01 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStream(t, 16000, nopConsumer{})
			snd := newSender(t)
			for i := range 100 {
				st.Push(snd.next(20), arrival(i).Add(tt.noise(i)))
			}
			if ms := st.Stats().JitterMs; !tt.check(ms) {
				t.Errorf("JitterMs = %v", ms)
			}
		})
	}
}

func TestStreamStatsIsACopy(t *testing.T) {
	st := newTestStream(t, 16000, nopConsumer{})
	snd := newSender(t)
	st.Push(snd.next(20), arrival(0))
	before := st.Stats()
	before.Packets = 99
	if got := st.Stats().Packets; got != 1 {
		t.Fatalf("changing a copy changed the stream: Packets %d", got)
	}
	before = st.Stats()
	st.Push(snd.next(20), arrival(1))
	if before.Packets != 1 {
		t.Errorf("an earlier Stats changed with the stream: Packets %d", before.Packets)
	}
	if got := st.Stats().Packets; got != 2 {
		t.Errorf("Packets %d, want 2", got)
	}
}

// TestStreamPushDoesNotAllocate holds Push to its hot-path promise.
func TestStreamPushDoesNotAllocate(t *testing.T) {
	st, err := NewStream(StreamConfig{
		CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", SampleRate: 16000,
		MediaStart: mediaStart, Consumer: nopConsumer{},
		Participant: func(uint32) (string, *event.Identity) { return "alice", alice },
	})
	if err != nil {
		t.Fatal(err)
	}
	snd := newSender(t)
	const runs = 100
	packets := make([][]byte, runs+2)
	for i := range packets {
		packets[i] = snd.next(20)
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		st.Push(packets[i], arrival(i))
		i++
	})
	if allocs != 0 {
		t.Errorf("Push allocates %v times per packet, want 0", allocs)
	}
}

func BenchmarkStreamPush(b *testing.B) {
	st := newTestStream(b, 16000, nopConsumer{})
	snd := newSender(b)
	packets := make([][]byte, 500)
	for i := range packets {
		packets[i] = snd.next(20)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Replaying the loop re-sends old sequence numbers; shift them on.
		p := packets[i%len(packets)]
		p[2], p[3] = byte(i>>8), byte(i)
		st.Push(p, arrival(i))
		i++
	}
}

func FuzzStreamPush(f *testing.F) {
	snd := newSender(f)
	good := snd.next(20)
	f.Add(good)
	f.Add(good[:7])                                                                             // truncated header
	f.Add([]byte{0x8f, 0x6f, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})                         // CSRC count 15, short body
	f.Add([]byte{0x90, 0x6f, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 0xbe, 0xde, 0xff, 0xff, 0x10, 0xaa}) // extension with bogus length
	f.Fuzz(func(t *testing.T, b []byte) {
		clock := mediaStart
		c := &checkingConsumer{t: t}
		st, err := NewStream(StreamConfig{
			CallID: testCall, SSRC: testSSRC, MimeType: "audio/opus", SampleRate: 16000,
			MediaStart: mediaStart, Consumer: c, Participant: func(uint32) (string, *event.Identity) { return "", nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		push := func(p []byte) {
			clock = clock.Add(FrameMs * time.Millisecond)
			st.Push(p, clock)
		}
		push(good)
		push(b)
		push(b)
		if len(b) >= 4 { // the same bytes as the next packet in sequence
			next := append([]byte(nil), b...)
			next[3]++
			push(next)
		}
		push(good)
		_ = st.Stats()
	})
}

// checkingConsumer fails on a frame that is not 20 ms at 16 kHz.
type checkingConsumer struct{ t *testing.T }

func (c *checkingConsumer) Frame(f *Frame) {
	if len(f.PCM) != 320 {
		c.t.Fatalf("frame of %d samples", len(f.PCM))
	}
}
