package sink

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/hraban/opus.v2"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// oggStream is what readOgg found in a file.
type oggStream struct {
	serial   uint32
	head     []byte   // OpusHead packet
	tags     []byte   // OpusTags packet
	preSkip  int      // the OpusHead's pre-skip, in 48 kHz samples
	packets  [][]byte // audio packets of the complete pages, in order: the pre-skip filler first
	audio    [][]byte // the media packets: packets without the pre-skip filler
	pages    int      // complete pages
	granule  int64    // granule position of the last complete page (the pre-skip in it)
	samples  int64    // media samples: granule less the pre-skip (0 if no audio page)
	eos      bool     // the last complete page has the EOS flag
	tornTail int      // bytes after the last complete page
}

// readOgg parses an Ogg Opus file page by page, as a strict demuxer would:
// capture pattern, version, CRC (with its own table, not the writer's),
// one serial, consecutive page numbers, BOS on page 0 only, EOS on the last
// page only, OpusHead alone on page 0 and OpusTags alone on page 1, and
// RFC 7845 granule positions: a page's is the previous one's plus the
// samples of the packets completed on it (no gaps, no end trimming). A
// torn last page (the end of a killed writer's file) is allowed only if
// !closed; a closed file must end with an EOS page. The audio must start
// with the pre-skip filler (see splitPreSkip).
func readOgg(t testing.TB, raw []byte, closed bool) oggStream {
	t.Helper()
	var s oggStream
	var partial []byte // packet continued onto the next page
	var packets [][]byte
	off := 0
	for off < len(raw) {
		if len(raw)-off < oggHeaderSize || len(raw)-off < oggHeaderSize+int(raw[off+26]) {
			break // torn header
		}
		h := raw[off:]
		nsegs := int(h[26])
		size := oggHeaderSize + nsegs
		for _, l := range h[oggHeaderSize : oggHeaderSize+nsegs] {
			size += int(l)
		}
		if len(h) < size {
			break // torn body
		}
		page := slices.Clone(h[:size])
		if string(page[:4]) != "OggS" || page[4] != 0 {
			t.Fatalf("page %d at %d: capture %q version %d", s.pages, off, page[:4], page[4])
		}
		flags := page[5]
		granule := int64(binary.LittleEndian.Uint64(page[6:]))
		serial := binary.LittleEndian.Uint32(page[14:])
		seq := binary.LittleEndian.Uint32(page[18:])
		crc := binary.LittleEndian.Uint32(page[22:])
		binary.LittleEndian.PutUint32(page[22:], 0)
		if want := testOggCRC(page); crc != want {
			t.Fatalf("page %d at %d: CRC %08x, want %08x", s.pages, off, crc, want)
		}
		if s.pages == 0 {
			s.serial = serial
		}
		switch {
		case serial != s.serial:
			t.Fatalf("page %d: serial %08x, want %08x", s.pages, serial, s.serial)
		case seq != uint32(s.pages):
			t.Fatalf("page %d: sequence number %d", s.pages, seq)
		case (flags&oggBOS != 0) != (s.pages == 0):
			t.Fatalf("page %d: header type %#x: BOS must be on page 0 only", s.pages, flags)
		case s.eos:
			t.Fatalf("page %d after the EOS page", s.pages)
		case flags&^(oggBOS|oggEOS|0x01) != 0:
			t.Fatalf("page %d: header type %#x", s.pages, flags)
		case (flags&0x01 != 0) != (partial != nil):
			t.Fatalf("page %d: continuation flag %v with a packet pending %v", s.pages, flags&1 != 0, partial != nil)
		}
		s.eos = flags&oggEOS != 0
		// Packets completed on this page.
		body := page[oggHeaderSize+nsegs:]
		var done [][]byte
		for _, l := range page[oggHeaderSize : oggHeaderSize+nsegs] {
			partial = append(partial, body[:l]...)
			body = body[l:]
			if l < 255 {
				done = append(done, partial)
				partial = nil
			}
		}
		switch s.pages {
		case 0:
			if len(done) != 1 || partial != nil || !bytes.HasPrefix(done[0], []byte("OpusHead")) || granule != 0 {
				t.Fatalf("page 0: %d packets, granule %d: want OpusHead alone, granule 0", len(done), granule)
			}
			s.head = done[0]
		case 1:
			if len(done) != 1 || partial != nil || !bytes.HasPrefix(done[0], []byte("OpusTags")) || granule != 0 {
				t.Fatalf("page 1: %d packets, granule %d: want OpusTags alone, granule 0", len(done), granule)
			}
			s.tags = done[0]
		default:
			if len(done) == 0 {
				if granule != -1 {
					t.Fatalf("page %d completes no packet but has granule %d, want -1", s.pages, granule)
				}
				break
			}
			want := s.granule
			for _, p := range done {
				n, err := audio.OpusSamples(p)
				if err != nil {
					t.Fatalf("page %d: packet % x: %v", s.pages, p[:min(len(p), 4)], err)
				}
				want += int64(n)
			}
			if granule != want {
				t.Fatalf("page %d: granule %d, want %d (the previous %d plus its packets)", s.pages, granule, want, s.granule)
			}
			s.granule = granule
			packets = append(packets, done...)
		}
		s.pages++
		off += size
	}
	s.tornTail = len(raw) - off
	s.packets = packets
	if s.pages < 2 {
		t.Fatalf("%d complete pages: no headers", s.pages)
	}
	if closed && (!s.eos || s.tornTail != 0 || partial != nil) {
		t.Fatalf("closed file: EOS %v, %d bytes after the last page, packet pending %v", s.eos, s.tornTail, partial != nil)
	}
	checkOpusHead(t, s.head)
	s.preSkip, s.audio = splitPreSkip(t, s.head, s.packets)
	if len(s.packets) > 0 {
		s.samples = s.granule - int64(s.preSkip)
	}
	return s
}

// splitPreSkip reads the pre-skip from the OpusHead head and returns it
// and the media packets: packets without the leading filler that the
// pre-skip drops, which must be there (if packets holds any) and be
// exactly one 0xe0 (CELT-only fullband 2.5 ms, mono, code 0, one empty
// frame: 120 samples, zeros at a decoder's start) of pre-skip samples.
func splitPreSkip(t testing.TB, head []byte, packets [][]byte) (int, [][]byte) {
	t.Helper()
	preSkip := int(binary.LittleEndian.Uint16(head[10:]))
	if len(packets) == 0 {
		return preSkip, nil
	}
	if n, _ := audio.OpusSamples(packets[0]); !bytes.Equal(packets[0], []byte{0xe0}) || n != preSkip {
		t.Fatalf("first audio packet % x of %d samples: want the pre-skip filler e0 of %d (the pre-skip)", packets[0][:min(len(packets[0]), 4)], n, preSkip)
	}
	return preSkip, packets[1:]
}

func readOggFile(t testing.TB, path string, closed bool) oggStream {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readOgg(t, raw, closed)
}

// checkOpusHead checks the identification header: version 1, mono,
// pre-skip 120, 48 kHz input, gain 0, mapping family 0.
func checkOpusHead(t testing.TB, h []byte) {
	t.Helper()
	want := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 120, 0, 0x80, 0xbb, 0, 0, 0, 0, 0}
	if !bytes.Equal(h, want) {
		t.Fatalf("OpusHead % x, want % x", h, want)
	}
}

// parseOpusTags returns the vendor and comments of an OpusTags packet.
func parseOpusTags(t testing.TB, p []byte) (string, []string) {
	t.Helper()
	rd := func(n int) []byte {
		if len(p) < n {
			t.Fatalf("OpusTags truncated")
		}
		b := p[:n]
		p = p[n:]
		return b
	}
	if string(rd(8)) != "OpusTags" {
		t.Fatal("not OpusTags")
	}
	vendor := string(rd(int(binary.LittleEndian.Uint32(rd(4)))))
	var comments []string
	for range binary.LittleEndian.Uint32(rd(4)) {
		comments = append(comments, string(rd(int(binary.LittleEndian.Uint32(rd(4))))))
	}
	if len(p) != 0 {
		t.Fatalf("%d bytes after the comments", len(p))
	}
	return vendor, comments
}

// testOggCRC is the Ogg CRC computed bit by bit, independently of the
// writer's table.
func testOggCRC(p []byte) uint32 {
	var crc uint32
	for _, b := range p {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// decodeOpus decodes packets in order with libopus at 48 kHz mono, checking
// that each decodes to the samples its TOC says.
func decodeOpus(t testing.TB, packets [][]byte) []int16 {
	t.Helper()
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 5760)
	var pcm []int16
	for i, p := range packets {
		n, err := dec.Decode(p, buf)
		if err != nil {
			t.Fatalf("packet %d (% x): %v", i, p[:min(len(p), 4)], err)
		}
		if want, _ := audio.OpusSamples(p); n != want {
			t.Fatalf("packet %d (TOC %#02x): libopus decodes %d samples, want %d", i, p[0], n, want)
		}
		pcm = append(pcm, buf[:n]...)
	}
	return pcm
}

// decode decodes the file's audio as a player does, on the media clock:
// every packet with one libopus decoder, then the pre-skip dropped (it
// must be zeros: the filler, before any packet, has nothing to conceal).
func (s oggStream) decode(t testing.TB) []int16 {
	t.Helper()
	pcm := decodeOpus(t, s.packets)
	if len(pcm) < s.preSkip {
		t.Fatalf("decoded %d samples, fewer than the pre-skip %d", len(pcm), s.preSkip)
	}
	if slices.ContainsFunc(pcm[:s.preSkip], func(v int16) bool { return v != 0 }) {
		t.Errorf("the pre-skip's %d samples are not zeros", s.preSkip)
	}
	return pcm[s.preSkip:]
}

func TestOggCRC(t *testing.T) {
	// CRC-32/CKSUM's check value is 0x765e7680; Ogg's CRC is the same
	// without its final inversion.
	if got := oggCRC([]byte("123456789")); got != 0x89a1897f {
		t.Errorf("oggCRC(123456789) = %08x, want 89a1897f", got)
	}
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	if got, want := oggCRC(b), testOggCRC(b); got != want {
		t.Errorf("table CRC %08x, bitwise %08x", got, want)
	}
}

func TestSegmentPathOfOpusFiles(t *testing.T) {
	for seg, want := range map[int]string{1: "d/alice.opus", 2: "d/alice.2.opus", 10: "d/alice.10.opus"} {
		if got := segmentPath("d/alice.opus", seg); got != want {
			t.Errorf("segment %d: %q, want %q", seg, got, want)
		}
	}
}

// Media layout of the round trip: the participant's first packet is 1 s
// into the call, they speak 1 s, send nothing for 0.6 s (DTX), speak 1 s.
const (
	rtLead    = 48000 // samples before the first packet
	rtTalk    = 50    // packets per talk spurt
	rtGap     = 30    // 20 ms packets not sent between the spurts
	rtPackets = 2 * rtTalk
	rtSamples = rtLead + (rtPackets+rtGap)*960
)

// writeRoundTrip writes the round trip's packets of a 440 Hz voice to a file
// in dir and returns its path and the packets.
func writeRoundTrip(t *testing.T, dir string) (string, [][]byte) {
	t.Helper()
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(rtPackets)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alice.opus")
	w, err := NewOggOpusWriter(path, OggOpusOptions{Comments: []string{"MEDIABOT_CALL_ID=call-1", "MEDIABOT_PARTICIPANT_ID=alice"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range pkts {
		at := int64(rtLead + 960*k)
		if k >= rtTalk {
			at += rtGap * 960
		}
		if err := w.WritePacket(p, at); err != nil {
			t.Fatal(err)
		}
	}
	if w.Samples() != rtSamples || w.Position() != rtSamples {
		t.Errorf("Samples %d, Position %d; want %d", w.Samples(), w.Position(), rtSamples)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, pkts
}

func TestOggOpusRoundTrip(t *testing.T) {
	path, pkts := writeRoundTrip(t, t.TempDir())
	s := readOggFile(t, path, true)
	vendor, comments := parseOpusTags(t, s.tags)
	if vendor != "mediabot" || !slices.Equal(comments, []string{"MEDIABOT_CALL_ID=call-1", "MEDIABOT_PARTICIPANT_ID=alice"}) {
		t.Errorf("OpusTags: vendor %q, comments %q", vendor, comments)
	}

	// The packets as received, with TOC-only fillers shaped like the first
	// packet before it, and in the gap like the packet before it for 100 ms,
	// then CELT silence frames.
	lead, gap := []byte{pkts[0][0] &^ 3}, []byte{pkts[rtTalk-1][0] &^ 3}
	var want [][]byte
	for range rtLead / 960 {
		want = append(want, lead)
	}
	want = append(want, pkts[:rtTalk]...)
	for i := range rtGap {
		if i < 5 {
			want = append(want, gap)
		} else {
			want = append(want, []byte{0xf8, 0xff, 0xfe})
		}
	}
	want = append(want, pkts[rtTalk:]...)
	if len(s.audio) != len(want) {
		t.Fatalf("%d audio packets, want %d", len(s.audio), len(want))
	}
	for i := range want {
		if !bytes.Equal(s.audio[i], want[i]) {
			t.Fatalf("audio packet %d: % x, want % x", i, s.audio[i][:min(len(s.audio[i]), 8)], want[i][:min(len(want[i]), 8)])
		}
	}
	if s.samples != rtSamples || s.granule != rtSamples+int64(s.preSkip) {
		t.Errorf("last granule %d (%d media samples), want %d: the pre-skip %d and %d", s.granule, s.samples, rtSamples+int64(s.preSkip), s.preSkip, rtSamples)
	}
	t.Logf("%d pages, %d audio packets; fillers %#02x before the first packet, %#02x in the gap", s.pages, len(s.audio), lead, gap)

	pcm := s.decode(t)
	if len(pcm) != rtSamples {
		t.Fatalf("decoded %d samples, want %d (the media time span, %.2f s)", len(pcm), rtSamples, float64(rtSamples)/48000)
	}
	checkRoundTripAudio(t, pcm)
}

// checkRoundTripAudio checks decoded round trip audio on the media clock:
// exact silence before the first packet, the 440 Hz voice where it speaks,
// and the gap far below it (libopus conceals the lost frames: it extends
// the tone, fades it, then holds a noise floor; see OggOpusWriter).
func checkRoundTripAudio(t *testing.T, pcm []int16) {
	t.Helper()
	const ms = 48
	talk1 := pcm[rtLead : rtLead+rtTalk*960]
	gapFrom := rtLead + rtTalk*960
	gapTo := gapFrom + rtGap*960
	talk2 := pcm[gapTo : gapTo+rtTalk*960]
	lead := audiotest.RMS(pcm[:rtLead])
	talk := min(audiotest.RMS(talk1), audiotest.RMS(talk2))
	gapTail := audiotest.RMS(pcm[gapFrom+300*ms : gapTo])
	gapAll := audiotest.RMS(pcm[gapFrom:gapTo])
	t.Logf("RMS: lead-in %.1f, talk %.0f, gap %.0f (after its first 300 ms %.0f, %.1f dB below the talk)",
		lead, talk, gapAll, gapTail, 20*math.Log10(talk/gapTail))
	if lead != 0 {
		t.Errorf("the first second (before the first packet) has RMS %.1f, want 0", lead)
	}
	if talk < 3000 {
		t.Errorf("talk RMS %.0f: where the voice speaks it is too quiet", talk)
	}
	// libopus 1.3.1: 614 against 5316, 18.7 dB down; TestOggOpusDTXGapAfterSilence
	// has the gap of a real DTX sender, which decodes to zeros.
	if gapTail > talk/5 { // 14 dB down
		t.Errorf("the gap after its first 300 ms has RMS %.0f; the talk %.0f: not near silence", gapTail, talk)
	}
	candidates := []float64{220, 330, 440, 550, 660}
	for i, seg := range map[string][]int16{"first spurt": talk1[10*ms:], "second spurt": talk2[10*ms:]} {
		if got := audiotest.Dominant(seg, 48000, candidates); candidates[got] != 440 {
			t.Errorf("%s: dominant %v Hz, want 440", i, candidates[got])
		}
	}
}

// opusTool runs one of opus-tools' programs, or skips the test if it is not
// installed (apt-get install opus-tools).
func opusTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install opus-tools)", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkOpusinfo runs opusinfo on path and fails on any warning or error
// (opusinfo exits 1 on any warning).
func checkOpusinfo(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("opusinfo"); err != nil {
		t.Skip("opusinfo not installed (apt-get install opus-tools)")
	}
	out, err := exec.Command("opusinfo", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") || strings.Contains(string(out), "ERROR") {
		t.Errorf("opusinfo %s: %v\n%s", filepath.Base(path), err, out)
	}
	if !strings.Contains(string(out), "Pre-skip: 120") || !strings.Contains(string(out), "Channels: 1") {
		t.Errorf("opusinfo %s: want pre-skip 120, 1 channel:\n%s", filepath.Base(path), out)
	}
	return string(out)
}

// opusdec decodes path with opusdec at 48 kHz and returns the samples.
func opusdec(t *testing.T, path string) []int16 {
	t.Helper()
	wav := filepath.Join(t.TempDir(), filepath.Base(path)+".wav")
	opusTool(t, "opusdec", "--quiet", "--rate", "48000", path, wav)
	pcm, rate := wavtest.Read(t, wav)
	if rate != 48000 {
		t.Fatalf("opusdec wrote %d Hz", rate)
	}
	return pcm
}

func TestOggOpusWithOpusTools(t *testing.T) {
	path, _ := writeRoundTrip(t, t.TempDir())
	info := checkOpusinfo(t, path)
	t.Logf("opusinfo:\n%s", info)
	pcm := opusdec(t, path)
	t.Logf("opusdec: %d samples (%.3f s); the media span is %d", len(pcm), float64(len(pcm))/48000, rtSamples)
	if d := len(pcm) - rtSamples; d < -20*48 || d > 20*48 {
		t.Errorf("opusdec: %d samples (%.3f s), want %d (%.3f s) within 20 ms", len(pcm), float64(len(pcm))/48000, rtSamples, float64(rtSamples)/48000)
	}
	if len(pcm) >= rtSamples {
		checkRoundTripAudio(t, pcm)
	}
}

// TestOggOpusStereoPackets writes packets with the stereo flag (a sender
// that encodes stereo) to the mono file: libopus and opusdec decode them to
// mono, of the right length.
func TestOggOpusStereoPackets(t *testing.T) {
	enc, err := opus.NewEncoder(48000, 2, opus.AppAudio)
	if err != nil {
		t.Fatal(err)
	}
	voice := graphsim.Voice{FundamentalHz: 440}
	path := filepath.Join(t.TempDir(), "stereo.opus")
	w, err := NewOggOpusWriter(path, OggOpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	stereo := make([]int16, 2*960)
	for k := range 50 {
		for i, v := range voice.Samples(k*960, 960) {
			stereo[2*i], stereo[2*i+1] = v, v/2
		}
		n, err := enc.Encode(stereo, buf)
		if err != nil {
			t.Fatal(err)
		}
		if buf[0]&0x04 == 0 {
			t.Fatalf("packet %d: TOC %#02x has no stereo flag", k, buf[0])
		}
		at := int64(24000 + 960*k) // 0.5 s in, and a 0.2 s gap halfway
		if k >= 25 {
			at += 9600
		}
		if err := w.WritePacket(buf[:n], at); err != nil {
			t.Fatal(err)
		}
	}
	want := int64(24000 + 50*960 + 9600)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := readOggFile(t, path, true)
	if s.audio[0][0]&0x04 == 0 || s.audio[25+25][0]&0x04 == 0 {
		t.Errorf("fillers % x, % x: want the stereo flag of the packets", s.audio[0], s.audio[50])
	}
	if pcm := s.decode(t); int64(len(pcm)) != want {
		t.Errorf("libopus: %d samples, want %d", len(pcm), want)
	}
	checkOpusinfo(t, path)
	pcm := opusdec(t, path)
	if d := int64(len(pcm)) - want; d < -20*48 || d > 20*48 {
		t.Errorf("opusdec: %d samples, want %d", len(pcm), want)
	}
	candidates := []float64{220, 440, 660}
	if got := audiotest.Dominant(pcm[24000+4800:24000+24000], 48000, candidates); candidates[got] != 440 {
		t.Errorf("opusdec: dominant %v Hz, want 440", candidates[got])
	}
}

// tocOnly is the TOC-only packets of toc bytes.
func tocOnly(tocs ...byte) [][]byte {
	var out [][]byte
	for _, b := range tocs {
		out = append(out, []byte{b})
	}
	return out
}

func repeatTOC(toc byte, n int) []byte { return bytes.Repeat([]byte{toc}, n) }

// silenceFrames are CELT silence frames of these TOCs (frame bytes 0xFF 0xFE).
func silenceFrames(tocs ...byte) [][]byte {
	var out [][]byte
	for _, b := range tocs {
		out = append(out, []byte{b, 0xff, 0xfe})
	}
	return out
}

// isFiller reports whether p is a gap filler: TOC-only or a silence frame.
func isFiller(p []byte) bool {
	return len(p) == 1 || len(p) == 3 && p[1] == 0xff && p[2] == 0xfe
}

// TestOggOpusGapFillers checks the exact filler packets for gaps after
// packets of each mode (RFC 7845 §4.1: the previous packet's mode,
// bandwidth, channels and frame size, shorter frames of the same mode for
// the rest, CELT only at the end for under 10 ms) for the first 100 ms,
// CELT silence frames past that, and that libopus decodes them to exactly
// the gap's length.
func TestOggOpusGapFillers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   byte  // TOC of the packet before the gap (itself TOC-only: a valid packet)
		gap     int64 // samples between its end and the next packet
		want    []byte
		silence []byte // TOCs of the silence frames after want's TOC-only packets
	}{
		{"95 ms after SILK WB 20 ms (RFC 7845's example)", 0x48, 4560, []byte{0x48, 0x48, 0x48, 0x48, 0x40, 0xa8}, nil},
		{"1 s after CELT FB 20 ms", 0xf8, 48000, repeatTOC(0xf8, 5), repeatTOC(0xf8, 45)},
		{"27.5 ms after CELT FB 20 ms stereo", 0xfc, 1320, []byte{0xfc, 0xec, 0xe4}, nil},
		{"130 ms after SILK NB 60 ms", 0x18, 6240, []byte{0x18, 0x10}, []byte{0xf8, 0xf0}},
		{"100 ms after SILK NB 60 ms", 0x18, 4800, []byte{0x18, 0x10}, nil},
		{"22.5 ms after SILK MB 20 ms: CELT WB", 0x28, 1080, []byte{0x28, 0xa0}, nil},
		{"37.5 ms after Hybrid FB 20 ms", 0x78, 1800, []byte{0x78, 0x70, 0xe8, 0xe0}, nil},
		{"25 ms after Hybrid SWB 10 ms", 0x60, 1200, []byte{0x60, 0x60, 0xc8}, nil},
		{"5 ms after CELT NB 2.5 ms", 0x80, 240, []byte{0x80, 0x80}, nil},
		{"a code 3 packet's TOC becomes code 0", 0xfb, 960, []byte{0xf8}, nil},
		{"959 samples round to 20 ms", 0xf8, 959, []byte{0xf8}, nil},
		{"61 samples round to 2.5 ms", 0xf8, 61, []byte{0xe0}, nil},
		{"59 samples round to nothing", 0xf8, 59, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gap.opus")
			w, err := NewOggOpusWriter(path, OggOpusOptions{})
			if err != nil {
				t.Fatal(err)
			}
			first := []byte{tc.first}
			if tc.first&3 == 3 {
				first = []byte{tc.first, 1} // code 3: one frame, CBR, empty
			}
			n, _ := audio.OpusSamples(first)
			if err := w.WritePacket(first, 0); err != nil {
				t.Fatal(err)
			}
			next := []byte{0xf8, 0xff, 0xfe} // any packet after the gap
			if err := w.WritePacket(next, int64(n)+tc.gap); err != nil {
				t.Fatal(err)
			}
			wantSamples := int64(n) + (tc.gap+60)/120*120 + 960
			if w.Samples() != wantSamples {
				t.Errorf("Samples %d, want %d", w.Samples(), wantSamples)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			s := readOggFile(t, path, true)
			want := slices.Concat([][]byte{first}, tocOnly(tc.want...), silenceFrames(tc.silence...), [][]byte{next})
			if !slices.EqualFunc(s.audio, want, bytes.Equal) {
				t.Errorf("packets %x, want %x", s.audio, want)
			}
			if pcm := s.decode(t); int64(len(pcm)) != wantSamples {
				t.Errorf("libopus decodes %d samples, want %d", len(pcm), wantSamples)
			}
		})
	}
}

// TestOggOpusLeadInAndOverlap: fillers before the first packet are shaped
// like it and decode to exact zeros; a packet that overlaps the file's end
// is written after the previous one, not dropped.
func TestOggOpusLeadInAndOverlap(t *testing.T) {
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(10)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lead.opus")
	w, err := NewOggOpusWriter(path, OggOpusOptions{Start: 96000}) // a rollover file starting at 2 s
	if err != nil {
		t.Fatal(err)
	}
	// First packet at 2.5 s: 0.5 s of fillers. Then packet 5 arrives 10 ms
	// early and packet 6 20 ms early: both follow the one before.
	for k, p := range pkts {
		at := int64(96000 + 24000 + 960*k)
		switch k {
		case 5:
			at -= 480
		case 6:
			at -= 960
		}
		if err := w.WritePacket(p, at); err != nil {
			t.Fatal(err)
		}
	}
	if want := int64(24000 + 10*960); w.Samples() != want || w.Position() != 96000+want {
		t.Errorf("Samples %d, Position %d; want %d, %d", w.Samples(), w.Position(), want, 96000+want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := readOggFile(t, path, true)
	want := slices.Concat(tocOnly(repeatTOC(pkts[0][0], 25)...), pkts)
	if !slices.EqualFunc(s.audio, want, bytes.Equal) {
		t.Fatalf("%d packets; want 25 fillers %#02x then the 10 packets", len(s.audio), pkts[0][0])
	}
	pcm := s.decode(t)
	if slices.ContainsFunc(pcm[:24000], func(v int16) bool { return v != 0 }) {
		t.Error("the lead-in does not decode to zeros")
	}
}

func TestOggOpusRefusesBadPackets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.opus")
	w, err := NewOggOpusWriter(path, OggOpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{nil, {0xfb}, {0xf9, 1, 2, 3}} {
		if err := w.WritePacket(p, 0); !errors.Is(err, audio.ErrBadOpusPacket) {
			t.Errorf("WritePacket(% x) = %v, want ErrBadOpusPacket", p, err)
		}
	}
	// Valid Opus (one empty frame and 65280 bytes of padding, RFC 6716
	// §3.2.5) but longer than an Ogg page holds.
	padded := slices.Concat([]byte{0xfb, 0x41}, bytes.Repeat([]byte{255}, 256), []byte{0}, make([]byte, 256*254))
	if _, err := audio.OpusSamples(padded); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(padded, 0); !errors.Is(err, audio.ErrPacketTooLong) {
		t.Errorf("a packet of %d bytes: %v, want ErrPacketTooLong", len(padded), err)
	}
	if w.Samples() != 0 {
		t.Errorf("Samples %d after refused packets", w.Samples())
	}
	if err := w.WritePacket([]byte{0xf8, 0xff, 0xfe}, 960); err != nil {
		t.Errorf("a good packet after bad ones: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := w.WritePacket([]byte{0xf8}, 0); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("WritePacket after Close: %v", err)
	}
	if s := readOggFile(t, path, true); len(s.audio) != 2 || s.samples != 1920 {
		t.Errorf("%d packets, %d samples: want a filler and the good packet, 1920", len(s.audio), s.samples)
	}
	if _, err := NewOggOpusWriter(filepath.Join(t.TempDir(), "c.opus"), OggOpusOptions{Comments: []string{"no equals sign"}}); err == nil {
		t.Error("a comment without '=' accepted")
	}
}

// TestOggOpusEOS: Close sets EOS on the last page whether it still holds
// packets, was just written, or holds only the pre-skip filler (a file with
// no audio); FillTo pads a quiet participant; Flush writes a partial page.
func TestOggOpusEOS(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		packets int
		fillTo  int64
		written bool // the writes (packets, then FillTo's fillers) end on a finished page
	}{
		{"no audio", 0, 0, false},
		{"a partial page", 7, 0, false},
		{"a page just written", oggPagePackets - 1, 0, true}, // the first page holds the pre-skip filler too
		{"pages just written by FillTo", oggPagePackets, 2 * 48000, true},
		{"two pages and a partial one", 2*oggPagePackets + 3, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".opus")
			w, err := NewOggOpusWriter(path, OggOpusOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.packets {
				if err := w.WritePacket([]byte{0xf8, 0xff, 0xfe}, int64(960*k)); err != nil {
					t.Fatal(err)
				}
			}
			written := func() {
				if (w.packets == 0) != tc.written {
					t.Errorf("the writes end with %d packets on the page being filled", w.packets)
				}
			}
			if tc.fillTo == 0 {
				written()
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if s := readOggFile(t, path, false); len(s.audio) != tc.packets || s.tornTail != 0 {
				t.Errorf("after Flush the file holds %d packets and %d torn bytes, want %d, 0", len(s.audio), s.tornTail, tc.packets)
			}
			if tc.fillTo > 0 {
				if err := w.FillTo(tc.fillTo); err != nil {
					t.Fatal(err)
				}
				written()
			}
			want := max(tc.fillTo, int64(960*tc.packets))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			s := readOggFile(t, path, true)
			if s.samples != want {
				t.Errorf("granule %d: %d media samples, want %d", s.granule, s.samples, want)
			}
			// Even with no audio the file is a valid stream: the pre-skip
			// filler, all dropped.
			checkOpusinfo(t, path)
			if pcm := opusdec(t, path); int64(len(pcm)) != want {
				t.Errorf("opusdec: %d samples, want %d", len(pcm), want)
			}
		})
	}
}

// TestOggOpusRollover: past MaxBytes the writer says it is full and goes on
// safely; the next file, started at Position(), continues the media clock.
func TestOggOpusRollover(t *testing.T) {
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(150)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "bob.opus")
	const maxBytes = 3000
	w, err := NewOggOpusWriter(base, OggOpusOptions{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	at := func(k int) int64 { return int64(48000 + 960*k) } // from 1 s
	k := 0
	for ; !w.Full(); k++ {
		if err := w.WritePacket(pkts[k], at(k)); err != nil {
			t.Fatal(err)
		}
	}
	fullAt := k
	if fullAt < 5 || fullAt > 100 {
		t.Fatalf("full after %d packets of a 3000-byte file", fullAt)
	}
	for end := k + 10; k < end; k++ { // past MaxBytes: still safe
		if err := w.WritePacket(pkts[k], at(k)); err != nil {
			t.Fatal(err)
		}
		if !w.Full() {
			t.Fatal("not full any more")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	first := readOggFile(t, base, true)
	if st, _ := os.Stat(base); st.Size() < maxBytes {
		t.Errorf("full at %d bytes, under MaxBytes", st.Size())
	}

	w2, err := NewOggOpusWriter(segmentPath(base, 2), OggOpusOptions{MaxBytes: maxBytes * 100, Start: w.Position()})
	if err != nil {
		t.Fatal(err)
	}
	for ; k < len(pkts); k++ {
		if err := w2.WritePacket(pkts[k], at(k)); err != nil {
			t.Fatal(err)
		}
	}
	if w2.Full() {
		t.Error("second file full")
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	second := readOggFile(t, filepath.Join(dir, "bob.2.opus"), true)
	if len(second.audio) != len(pkts)-fullAt-10 || !bytes.Equal(second.audio[0], pkts[fullAt+10]) {
		t.Errorf("second file: %d packets, want %d, no fillers", len(second.audio), len(pkts)-fullAt-10)
	}
	pcm1, pcm2 := first.decode(t), second.decode(t)
	if int64(len(pcm1)) != w.Position() || int64(len(pcm1)+len(pcm2)) != at(len(pkts)) {
		t.Errorf("the two files decode to %d and %d samples, want %d and %d", len(pcm1), len(pcm2), w.Position(), at(len(pkts))-w.Position())
	}
	t.Logf("full after %d packets (%d bytes); file 2 from %.2f s", fullAt, w.Size(), float64(w.Position())/48000)
}

func TestOggOpusWritePacketDoesNotAllocate(t *testing.T) {
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(50)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewOggOpusWriter(filepath.Join(t.TempDir(), "a.opus"), OggOpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	at := int64(0)
	write := func() {
		for _, p := range pkts {
			if err := w.WritePacket(p, at); err != nil {
				t.Fatal(err)
			}
			at += 960
		}
		at += 37*960 + 360 // a gap: fillers of 20 ms then shorter ones
	}
	write() // buffers reach their size
	if allocs := testing.AllocsPerRun(20, write); allocs != 0 {
		t.Errorf("%v allocations per second of packets and a gap, want 0", allocs)
	}
}

func BenchmarkOggOpusWritePacket(b *testing.B) {
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(50)
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewOggOpusWriter(filepath.Join(b.TempDir(), "bench.opus"), OggOpusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	at := int64(0)
	for i := 0; b.Loop(); i++ {
		p := pkts[i%len(pkts)]
		if err := w.WritePacket(p, at); err != nil {
			b.Fatal(err)
		}
		at += 960
	}
	b.SetBytes(int64(len(pkts[0])))
}

// The crash child writes an Ogg Opus file, packet by packet, and is killed.
const (
	oggCrashChildEnv = "MEDIABOT_OGGOPUS_CRASH_CHILD_FILE"
	oggCrashPackets  = 250  // distinct packets, cycled
	oggCrashMax      = 5000 // then the child waits to be killed
)

// oggCrashAt is the media position of the child's packet k: from 0.5 s,
// with 0.3 s of DTX after every 100 packets.
func oggCrashAt(k int) int64 { return int64(24000 + 960*k + 14400*(k/100)) }

// TestOggOpusCrashChild is the process TestOggOpusSurvivesKill9 kills; it
// does nothing on its own.
func TestOggOpusCrashChild(t *testing.T) {
	path := os.Getenv(oggCrashChildEnv)
	if path == "" {
		t.Skip("the child of TestOggOpusSurvivesKill9")
	}
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(oggCrashPackets)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewOggOpusWriter(path, OggOpusOptions{Comments: []string{"MEDIABOT_CALL_ID=crash"}})
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for k := range oggCrashMax {
		if err := w.WritePacket(pkts[k%len(pkts)], oggCrashAt(k)); err != nil {
			fmt.Fprintln(out, "error:", err)
			out.Flush()
			os.Exit(2)
		}
		fmt.Fprintln(out, k+1)
		out.Flush()
		time.Sleep(time.Millisecond) // let the parent kill it mid-stream
	}
	time.Sleep(time.Minute)
	os.Exit(3)
}

// TestOggOpusSurvivesKill9: a child process writes a participant's packets
// and is killed with SIGKILL mid-stream; every finished page reads back
// (CRC, granules), holds all but the packets of the last unfinished page,
// and opusdec decodes the file.
func TestOggOpusSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	const killAfter = 370 // packets: past three DTX gaps, mid-page
	path := filepath.Join(t.TempDir(), "crash.opus")
	child := exec.Command(os.Args[0], "-test.run=^TestOggOpusCrashChild$")
	child.Env = append(os.Environ(), oggCrashChildEnv+"="+path)
	written := killMidway(t, child, killAfter, 20*time.Second) // packets the child wrote before the kill

	s := readOggFile(t, path, false)
	if s.eos {
		t.Error("a killed writer's file has an EOS page")
	}
	pkts, err := graphsim.Voice{FundamentalHz: 440}.EncodeOpus(oggCrashPackets)
	if err != nil {
		t.Fatal(err)
	}
	// The file's audio is the child's packets in order, each at its media
	// position, with fillers between.
	var real int
	var pos int64
	for i, p := range s.audio {
		n, _ := audio.OpusSamples(p)
		if !isFiller(p) {
			if !bytes.Equal(p, pkts[real%len(pkts)]) {
				t.Fatalf("audio packet %d is not the child's packet %d", i, real)
			}
			if pos != oggCrashAt(real) {
				t.Fatalf("the child's packet %d is at %d, want %d", real, pos, oggCrashAt(real))
			}
			real++
		}
		pos += int64(n)
	}
	t.Logf("killed after %d packets; %d pages read back (%d torn bytes after them) with %d packets, %.2f s",
		written, s.pages, s.tornTail, real, float64(s.samples)/48000)
	// The child may have written one packet more than it said before the
	// kill; the page it was filling, up to 50 packets, is lost.
	if real > written+1 || real < written-oggPagePackets {
		t.Errorf("%d of the %d packets written are on finished pages; a page holds at most %d", real, written, oggPagePackets)
	}
	if s.samples > oggCrashAt(real) {
		t.Errorf("last granule %d (%d media samples) past the media position of the next packet, %d", s.granule, s.samples, oggCrashAt(real))
	}
	if _, err := exec.LookPath("opusdec"); err == nil {
		pcm := opusdec(t, path)
		if d := int64(len(pcm)) - s.samples; d < -20*48 || d > 20*48 {
			t.Errorf("opusdec: %d samples, the last complete page's %d media samples", len(pcm), s.samples)
		}
	}
}

// TestOggOpusDTXGapAfterSilence is the gap as a DTX sender makes it: the
// talker goes quiet, the encoder codes the quiet for a while (the DTX
// hangover), then the sender sends nothing. libopus conceals the gap from
// the quiet: it decodes to near silence.
func TestOggOpusDTXGapAfterSilence(t *testing.T) {
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	voice := graphsim.Voice{FundamentalHz: 440}
	const talk, hangover, gap = 50, 10, 30 // 20 ms packets
	path := filepath.Join(t.TempDir(), "dtx.opus")
	w, err := NewOggOpusWriter(path, OggOpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for k := range 2*talk + hangover + gap {
		pcm := voice.Samples(k*960, 960)
		switch {
		case k >= talk+hangover && k < talk+hangover+gap:
			continue // DTX: nothing sent
		case k >= talk && k < talk+hangover:
			clear(pcm)
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(buf[:n], int64(960*k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pcm := readOggFile(t, path, true).decode(t)
	if want := (2*talk + hangover + gap) * 960; len(pcm) != want {
		t.Fatalf("%d samples, want %d", len(pcm), want)
	}
	gapPCM := pcm[(talk+hangover)*960 : (talk+hangover+gap)*960]
	talkRMS, gapRMS := audiotest.RMS(pcm[:talk*960]), audiotest.RMS(gapPCM)
	t.Logf("RMS: talk %.0f, gap %.1f", talkRMS, gapRMS)
	if gapRMS > 30 {
		t.Errorf("gap RMS %.1f after a quiet hangover: want near silence (talk %.0f)", gapRMS, talkRMS)
	}
}

func TestOggOpusRename(t *testing.T) {
	dir := t.TempDir()
	w, err := NewOggOpusWriter(filepath.Join(dir, "ssrc-7.opus"), OggOpusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 60 {
		if k == 30 {
			if err := w.Rename(filepath.Join(dir, "carol.opus")); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WritePacket([]byte{0xf8, 0xff, 0xfe}, int64(960*k)); err != nil {
			t.Fatal(err)
		}
	}
	if w.Path() != filepath.Join(dir, "carol.opus") {
		t.Errorf("Path %q after Rename", w.Path())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ssrc-7.opus")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old path: %v", err)
	}
	if s := readOggFile(t, filepath.Join(dir, "carol.opus"), true); len(s.audio) != 60 {
		t.Errorf("%d packets after Rename, want 60", len(s.audio))
	}
}

// The eight-bytes-a-step CRC is the Ogg CRC: the same as a byte at a time
// (oggtest's, written apart) for every length and content.
func TestOggCRCMatchesTheBytewiseCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 100 {
		p := make([]byte, n*7)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		var want uint32
		for _, b := range p {
			want ^= uint32(b) << 24
			for range 8 {
				if want&0x80000000 != 0 {
					want = want<<1 ^ 0x04c11db7
				} else {
					want <<= 1
				}
			}
		}
		if got := oggCRC(p); got != want {
			t.Fatalf("%d bytes: CRC %08x, want %08x", len(p), got, want)
		}
	}
}
