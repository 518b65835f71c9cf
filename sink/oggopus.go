package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/mediabot-dev/mediabot/audio"
)

// Ogg framing (RFC 3533) and the Opus mapping (RFC 7845). No packet is ever
// continued across pages, so the header type's continuation flag (0x01) is
// never set.
const (
	oggHeaderSize = 27    // capture pattern to segment count, before the segment table
	oggMaxSegs    = 255   // lacing values a page holds
	oggMaxPacket  = 65024 // longest packet a page holds whole: 255 lacing values
	oggBOS        = 0x02  // header type: first page of the logical stream
	oggEOS        = 0x04  // header type: last page of the logical stream

	// A page is finished once it holds this many packets, this much audio or
	// this many bytes, whichever comes first: a second of 20 ms packets, so
	// that a crash loses at most about a second.
	oggPagePackets = 50
	oggPageSamples = 48000
	oggPageBytes   = 4096

	// oggOutBytes is how many bytes of finished pages a long gap may gather
	// before they are written (in one write): about two minutes of fillers.
	// Audio packets never wait: a page they finish is written at once.
	oggOutBytes = 16 << 10

	// opusGranule is the rounding of gaps: 2.5 ms, the shortest Opus frame.
	opusGranule = 120

	// opusDefaultTOC is the filler of a gap with no packet to copy: CELT-only
	// fullband 20 ms, mono, code 0 (configuration 31).
	opusDefaultTOC = 31 << 3

	// defaultVendor is the OpusTags vendor string.
	defaultVendor = "mediabot"
)

// OggOpusOptions configures an OggOpusWriter.
type OggOpusOptions struct {
	// MaxBytes is the size past which Full reports true (0: no limit). The
	// writer goes on writing past it; the caller closes it and continues in
	// {base}.2.opus, ... with Start set to Position() (the file sink does).
	MaxBytes int64

	// Start is the media position, in 48 kHz samples, of the file's first
	// sample: 0 for the first file of a participant, Position() of the
	// previous file for a rollover file. WritePacket's positions are on the
	// media clock, so the file holds media time from Start on.
	Start int64

	// Vendor is the OpusTags vendor string; "" means "mediabot".
	Vendor string

	// Comments are the OpusTags user comments, each "NAME=value" (RFC 7845
	// §5.2: NAME is printable ASCII without '='), e.g. "CALL_ID=...",
	// "PARTICIPANT_ID=...".
	Comments []string

	// Serial is the Ogg logical stream serial number; 0 picks a random one.
	Serial uint32
}

// OggOpusWriter writes one participant's Opus RTP payloads, exactly as
// received, to an Ogg Opus file (RFC 7845) on the call's media clock:
// decoded sample n of the file plays at (Start+n)/48000 s of media time.
//
// Header: OpusHead alone on page 0 (BOS), version 1, 1 channel, pre-skip
// 120, input rate 48000, output gain 0, channel mapping family 0; OpusTags
// alone on page 1, vendor "mediabot" and the caller's comments. The packets
// are stored as the sender encoded them, from wherever the recording joined
// the stream, so there is no encoder start-up of ours to hide; but a
// pre-skip under 120 samples is what tools such as opusinfo take for a
// broken encoder. So the audio starts with one 2.5 ms filler packet (below)
// that the pre-skip of 120 samples drops again: decoded sample n, after
// the pre-skip every decoder applies, is at (Start+n)/48000 s of media
// time, and Samples counts from there. The channel count is 1 whatever the packets say: WebRTC signals
// Opus as 48000/2, but what a packet holds is in its TOC byte (the stereo
// flag, per packet), and with mapping family 0 a decoder decodes either kind
// of packet to the header's channel count, down-mixing a stereo packet to
// mono (libopus and opusdec do). A call recording is mono.
//
// Audio pages: each packet is one Ogg packet, never split across pages. A
// page is finished when it holds 50 packets, 1 s of audio or 4 KiB, and
// written with a single write(2) as soon as a packet finishes it, so after
// a kill -9 every finished page is in the file and reads back (the file
// then has no EOS page, and a torn page at its end only if the kill came
// mid-write). The page being filled is in memory until then: Flush writes
// it early (for a participant gone quiet). Close finishes the last page
// with the EOS flag (or sets it on the last page written). A page's
// granule position is the file's sample count at the end of its last packet,
// the leading 120 samples included (RFC 7845 §4: the pre-skip is in it),
// and the gap fillers below.
//
// Gaps are carried the codec's own way (RFC 7845 §4.1, "Repairing Gaps in
// Real-time Streams"): wherever the sender sent nothing (DTX) or packets
// were lost, and before a participant's first packet, the writer adds Opus
// packets that keep the granule positions gap-free, so every decoder and
// seek lands on the media clock. Before the first packet, and for the first
// 100 ms of a gap after audio, they are a TOC byte alone: code 0, one frame
// of zero bytes, which RFC 6716 §3.2.1 defines as a request to conceal a
// lost frame (libopus returns exact zeros before the first packet, and
// conceals a loss after audio, as the decoded path conceals up to 100 ms).
// Past 100 ms they are CELT-only fullband silence frames (a TOC byte, then
// 0xFF 0xFE: the silence flag), which decode to zeros after one frame of
// fade: concealment alone would go on sounding like the last frames for as
// long as the gap. The gap before a packet at position at is
// at-Position(), rounded to the nearest 2.5 ms (gaps that are not whole
// 2.5 ms come only from odd RTP timestamps; the rounding error, under
// 1.25 ms, does not add up, since each gap is measured from the file's true
// end). The TOC-only fillers follow §4.1: the same mode, bandwidth, stereo
// flag and frame size as the packet before the gap (before the first
// packet: the first packet's), as many as fit, then for the rest shorter
// frames of the same mode, largest first, and only at the end CELT-only
// frames for a remainder under 10 ms, which SILK and Hybrid cannot make
// (from SILK MB: CELT WB); silence frames are 20 ms, then 10, 5, 2.5. For
// example 95 ms after SILK wideband 20 ms packets (TOC 0x48) is 0x48 0x48
// 0x48 0x48 0x40 0xa8; 1 s after CELT fullband 20 ms ones is five 0xf8 and
// 45 frames 0xf8 0xff 0xfe. They cost 2 and 4 bytes a packet with the
// lacing value.
//
// A packet positioned before the file's end (an overlap: a sender's clock
// that ran fast, or a reordered packet the caller let through) is written
// right after the previous packet, never dropped; the file then runs late
// by the overlap until a later gap takes it up.
//
// Full reports the file past OggOpusOptions.MaxBytes; rolling over to the
// next file is the caller's. An OggOpusWriter is not safe for concurrent
// use.
type OggOpusWriter struct {
	f        *os.File
	path     string
	maxBytes int64
	start    int64
	pos      int64 // 48 kHz samples in the file, fillers included
	serial   uint32
	seq      uint32 // number of the next page
	lastTOC  byte   // TOC of the last audio packet written
	haveTOC  bool

	// The page being filled: its lacing values and packet data.
	segs      [oggMaxSegs]byte
	nsegs     int
	body      []byte
	packets   int   // packets on the page
	pageStart int64 // pos when the page began

	out      []byte // finished pages not yet written
	written  int64  // bytes written to the file
	lastPage int64  // offset of the last finished page, in the file or in out
	lastLen  int    // its length
	err      error  // first write error; sticky
}

// NewOggOpusWriter creates (or truncates) the Ogg Opus file at path, which
// should end in ".opus", and writes its two header pages.
func NewOggOpusWriter(path string, opts OggOpusOptions) (*OggOpusWriter, error) {
	tags, err := opusTags(opts)
	if err != nil {
		return nil, fmt.Errorf("create ogg opus %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create ogg opus: %w", err)
	}
	w := &OggOpusWriter{
		f: f, path: path, maxBytes: opts.MaxBytes, start: opts.Start, serial: opts.Serial,
		body: make([]byte, 0, 2*oggPageBytes),
		out:  make([]byte, 0, oggOutBytes+oggHeaderSize+oggMaxSegs+2*oggPageBytes),
	}
	if w.serial == 0 {
		w.serial = rand.Uint32()
	}
	w.addPacket(opusHead(), 0)
	w.finishPage(oggBOS)
	w.addPacket(tags, 0)
	w.finishPage(0)
	w.addPacket([]byte{opusPreSkipTOC}, oggPreSkip)
	if err := w.writeOut(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// oggPreSkip is the pre-skip of every file, in 48 kHz samples, and
// opusPreSkipTOC the filler packet that is dropped for it: CELT-only
// fullband 2.5 ms, a TOC byte alone (see OggOpusWriter).
const (
	oggPreSkip     = 120
	opusPreSkipTOC = 28 << 3
)

// opusHead is the identification header (RFC 7845 §5.1).
func opusHead() []byte {
	h := make([]byte, 19)
	copy(h, "OpusHead")
	h[8] = 1 // version
	h[9] = 1 // output channel count
	binary.LittleEndian.PutUint16(h[10:], oggPreSkip)
	binary.LittleEndian.PutUint32(h[12:], 48000) // input sample rate
	binary.LittleEndian.PutUint16(h[16:], 0)     // output gain
	h[18] = 0                                    // channel mapping family 0: mono or stereo, no table
	return h
}

// opusTags is the comment header (RFC 7845 §5.2).
func opusTags(opts OggOpusOptions) ([]byte, error) {
	vendor := opts.Vendor
	if vendor == "" {
		vendor = defaultVendor
	}
	t := append([]byte("OpusTags"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(t[8:], uint32(len(vendor)))
	t = append(t, vendor...)
	t = binary.LittleEndian.AppendUint32(t, uint32(len(opts.Comments)))
	for _, c := range opts.Comments {
		name, _, ok := strings.Cut(c, "=")
		if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r > 0x7d }) {
			return nil, fmt.Errorf("opus comment %q is not NAME=value with NAME printable ASCII", c)
		}
		t = binary.LittleEndian.AppendUint32(t, uint32(len(c)))
		t = append(t, c...)
	}
	if len(t) > oggMaxPacket {
		return nil, fmt.Errorf("opus comments of %d bytes: %w", len(t), audio.ErrPacketTooLong)
	}
	return t, nil
}

// WritePacket appends an Opus packet (an RTP payload, as received) whose
// first sample is at position at of the media clock, in 48 kHz samples.
// If the file ends before at, gap fillers come first (see OggOpusWriter);
// if it ends after at, the packet follows the previous one. A packet that
// is not valid Opus framing (audio.OpusSamples fails: wrapping
// audio.ErrBadOpusPacket) or longer than an Ogg page holds is refused and
// nothing is written; the writer goes on. WritePacket does not keep
// payload.
//
// hot path: no alloc (steady state: packets of up to 4 KiB, pages written).
func (w *OggOpusWriter) WritePacket(payload []byte, at int64) error {
	if w.f == nil {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	n, err := audio.OpusSamples(payload)
	if err != nil {
		return fmt.Errorf("ogg opus %s: %w", w.path, err)
	}
	if len(payload) > oggMaxPacket {
		return fmt.Errorf("ogg opus %s: %d bytes: %w", w.path, len(payload), audio.ErrPacketTooLong)
	}
	tmpl := w.lastTOC
	if !w.haveTOC {
		tmpl = payload[0]
	}
	if err := w.fill(at, tmpl); err != nil {
		return err
	}
	w.addPacket(payload, n)
	w.lastTOC, w.haveTOC = payload[0], true
	return w.writeOut()
}

// FillTo extends the file with gap fillers up to position at of the media
// clock (to the nearest 2.5 ms), as if a packet came at at: for a
// participant who has gone quiet, at the end of a call, so that every file
// of the call lasts as long. Nothing happens if the file reaches at.
func (w *OggOpusWriter) FillTo(at int64) error {
	if w.f == nil {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	tmpl := byte(opusDefaultTOC)
	if w.haveTOC {
		tmpl = w.lastTOC
	}
	if err := w.fill(at, tmpl); err != nil {
		return err
	}
	return w.writeOut()
}

// Flush finishes the page being filled, if it holds a packet, and writes
// it. WritePacket finishes a page every second of audio by itself; a caller
// whose participant went quiet calls Flush (say once a second) so that the
// last packets before the silence survive a crash too.
func (w *OggOpusWriter) Flush() error {
	if w.f == nil {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	if w.packets > 0 {
		w.finishPage(0)
	}
	return w.writeOut()
}

// fill adds the gap fillers that bring the file to position at (see
// OggOpusWriter): TOC-only packets shaped after tmpl, which a decoder
// conceals as a loss (zeros before a participant's first packet), for all
// of a gap before the first packet and the first opusConcealSamples of one
// after audio; CELT silence frames for the rest.
func (w *OggOpusWriter) fill(at int64, tmpl byte) error {
	gap := at - w.Position()
	if gap < opusGranule/2 {
		return nil
	}
	gap = (gap + opusGranule/2) / opusGranule * opusGranule
	conceal := gap
	if w.haveTOC {
		conceal = min(gap, opusConcealSamples)
	}
	if err := w.fillWith(conceal, tmpl, nil); err != nil {
		return err
	}
	return w.fillWith(gap-conceal, opusSilenceTOC, opusSilence)
}

// fillWith adds n samples of packets of frames shaped after tmpl (its mode,
// bandwidth, stereo flag and frame size, then shorter ones for the rest),
// each frame's bytes being body.
func (w *OggOpusWriter) fillWith(n int64, tmpl byte, body []byte) error {
	cfg, stereo := tmpl>>3, tmpl&0x04
	frame := int64(opusFrameSamples(cfg))
	var pkt [3]byte
	for n > 0 {
		for n >= frame {
			pkt[0] = cfg<<3 | stereo
			w.addPacket(pkt[:1+copy(pkt[1:], body)], int(frame))
			n -= frame
			if len(w.out) >= oggOutBytes {
				if err := w.writeOut(); err != nil {
					return err
				}
			}
		}
		// A shorter frame for the rest: the same mode's next size down,
		// else CELT-only.
		cfg = opusShorterConfig(cfg, n)
		frame = int64(opusFrameSamples(cfg))
	}
	return nil
}

// The fillers' shapes: a gap's first 100 ms after audio are concealed like
// a loss (as the decoded path conceals at most 100 ms, then plays silence);
// past that the file holds CELT-only fullband silence frames: the silence
// flag set (frame bytes 0xFF 0xFE), which decode to zeros after one frame
// of fade, where concealment would go on sounding like the last frames.
const opusConcealSamples = 100 * 48

var (
	opusSilenceTOC = byte(31 << 3) // CELT-only fullband, 20 ms, one frame
	opusSilence    = []byte{0xff, 0xfe}
)

var silkFrameSamples = [4]int{480, 960, 1920, 2880}

// opusFrameSamples is the frame duration of TOC configuration cfg in 48 kHz
// samples (RFC 6716 §3.1).
func opusFrameSamples(cfg byte) int {
	switch {
	case cfg < 12: // SILK-only 10, 20, 40, 60 ms
		return silkFrameSamples[cfg&3]
	case cfg < 16: // Hybrid 10, 20 ms
		return 480 << (cfg & 1)
	default: // CELT-only 2.5, 5, 10, 20 ms
		return 120 << (cfg & 3)
	}
}

// opusShorterConfig is the configuration of the largest frame no longer
// than left (which is under cfg's frame, and a positive multiple of 2.5 ms):
// the same mode and bandwidth if it has one, else CELT-only in the nearest
// bandwidth (SILK MB has none: wideband, as RFC 7845 §4.1 asks).
func opusShorterConfig(cfg byte, left int64) byte {
	switch {
	case cfg < 12 && left >= 480: // SILK: 40, 20 or 10 ms
		base := cfg &^ 3
		for c := cfg; ; c-- {
			if c == base || int64(opusFrameSamples(c)) <= left {
				return c
			}
		}
	case cfg >= 12 && cfg < 16 && left >= 480: // Hybrid: 10 ms
		return cfg &^ 1
	}
	var base byte
	switch {
	case cfg < 4: // SILK NB
		base = 16 // CELT NB
	case cfg < 12: // SILK MB, WB
		base = 20 // CELT WB
	case cfg < 14: // Hybrid SWB
		base = 24 // CELT SWB
	case cfg < 16: // Hybrid FB
		base = 28 // CELT FB
	default:
		base = cfg &^ 3
	}
	for c := base + 3; c > base; c-- {
		if int64(opusFrameSamples(c)) <= left {
			return c
		}
	}
	return base
}

// addPacket puts packet p, of samples 48 kHz samples, on the page being
// filled (finishing that page first if p's lacing values do not fit), and
// finishes the page once it is full enough.
func (w *OggOpusWriter) addPacket(p []byte, samples int) {
	if w.nsegs+len(p)/255+1 > oggMaxSegs {
		w.finishPage(0)
	}
	for l := len(p); ; l -= 255 {
		if l < 255 {
			w.segs[w.nsegs] = byte(l)
			w.nsegs++
			break
		}
		w.segs[w.nsegs] = 255
		w.nsegs++
	}
	w.body = append(w.body, p...)
	w.pos += int64(samples)
	w.packets++
	// Header packets (no samples, pos still 0) end their pages explicitly.
	if w.pos > 0 && (w.packets >= oggPagePackets || w.pos-w.pageStart >= oggPageSamples || len(w.body) >= oggPageBytes) {
		w.finishPage(0)
	}
}

// finishPage serializes the page being filled onto out, with its granule
// position (the file's sample count: every packet on it is complete) and
// CRC, and starts the next one.
func (w *OggOpusWriter) finishPage(flags byte) {
	start := len(w.out)
	w.out = append(w.out, "OggS"...)
	w.out = append(w.out, 0, flags) // stream structure version 0, header type
	w.out = binary.LittleEndian.AppendUint64(w.out, uint64(w.pos))
	w.out = binary.LittleEndian.AppendUint32(w.out, w.serial)
	w.out = binary.LittleEndian.AppendUint32(w.out, w.seq)
	w.out = append(w.out, 0, 0, 0, 0, byte(w.nsegs)) // CRC (below), segment count
	w.out = append(w.out, w.segs[:w.nsegs]...)
	w.out = append(w.out, w.body...)
	page := w.out[start:]
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	w.lastPage, w.lastLen = w.written+int64(start), len(page)
	w.seq++
	w.nsegs, w.body, w.packets, w.pageStart = 0, w.body[:0], 0, w.pos
}

// writeOut writes the finished pages with one write.
func (w *OggOpusWriter) writeOut() error {
	if len(w.out) == 0 {
		return nil
	}
	n, err := w.f.Write(w.out)
	w.written += int64(n)
	w.out = w.out[:0]
	if err != nil {
		w.err = fmt.Errorf("write ogg opus %s: %w", w.path, err)
		return w.err
	}
	return nil
}

// markEOS sets the EOS flag on the last finished page, in out or already in
// the file, and updates its CRC.
func (w *OggOpusWriter) markEOS() error {
	if off := w.lastPage - w.written; off >= 0 {
		page := w.out[off : off+int64(w.lastLen)]
		page[5] |= oggEOS
		binary.LittleEndian.PutUint32(page[22:], 0)
		binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
		return nil
	}
	page := make([]byte, w.lastLen)
	if _, err := w.f.ReadAt(page, w.lastPage); err != nil {
		return fmt.Errorf("read ogg opus %s: %w", w.path, err)
	}
	page[5] |= oggEOS
	binary.LittleEndian.PutUint32(page[22:], 0)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	if _, err := w.f.WriteAt(page[:oggHeaderSize], w.lastPage); err != nil {
		return fmt.Errorf("write ogg opus %s: %w", w.path, err)
	}
	return nil
}

// Samples is the number of 48 kHz samples in the file so far, gap fillers
// included: the granule position of its last packet less the pre-skip.
func (w *OggOpusWriter) Samples() int64 { return w.pos - oggPreSkip }

// Position is the media position, in 48 kHz samples, of the file's end:
// Start plus Samples. A rollover file starts there.
func (w *OggOpusWriter) Position() int64 { return w.start + w.Samples() }

// Size is the file's size once the pages held in memory are written.
func (w *OggOpusWriter) Size() int64 {
	n := w.written + int64(len(w.out))
	if w.packets > 0 {
		n += int64(oggHeaderSize + w.nsegs + len(w.body))
	}
	return n
}

// Full reports whether the file has reached OggOpusOptions.MaxBytes: time
// to close it and go on in the next one. Writing on is safe.
func (w *OggOpusWriter) Full() bool { return w.maxBytes > 0 && w.Size() >= w.maxBytes }

// Path is the path of the file: the one given to NewOggOpusWriter, or to
// Rename.
func (w *OggOpusWriter) Path() string { return w.path }

// Rename moves the file to newPath; writing continues in place.
func (w *OggOpusWriter) Rename(newPath string) error {
	if err := os.Rename(w.path, newPath); err != nil {
		return fmt.Errorf("rename ogg opus: %w", err)
	}
	w.path = newPath
	return nil
}

// Close finishes the last page with the EOS flag (or sets the flag on the
// last page written), writes it, fsyncs and closes the file. After a write
// error it only closes the file and returns that error. A second Close
// returns ErrWriterClosed.
func (w *OggOpusWriter) Close() error {
	if w.f == nil {
		return ErrWriterClosed
	}
	err := w.err
	if err == nil {
		if w.packets > 0 {
			w.finishPage(oggEOS)
		} else {
			err = w.markEOS()
		}
		err = errors.Join(err, w.writeOut())
	}
	f := w.f
	w.f = nil
	if w.err == nil {
		w.err = ErrWriterClosed
	}
	if serr := f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync ogg opus %s: %w", w.path, serr)
	}
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close ogg opus %s: %w", w.path, cerr)
	}
	return err
}

// oggCRCTables are the Ogg CRC-32 (RFC 3533 §6: polynomial 0x04c11db7,
// MSB first, no reflection, initial value 0, no final xor: not
// hash/crc32's) for slicing by 8: oggCRCTables[0] is the byte table, and
// oggCRCTables[k][i] is the CRC of byte i followed by k zero bytes.
var oggCRCTables = func() (t [8][256]uint32) {
	for i := range t[0] {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[0][i] = r
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			p := t[k-1][i]
			t[k][i] = p<<8 ^ t[0][p>>24]
		}
	}
	return t
}()

// oggCRC is the Ogg CRC of p (a page with its CRC field zero), eight bytes
// a step.
func oggCRC(p []byte) uint32 {
	t := &oggCRCTables
	var crc uint32
	for ; len(p) >= 8; p = p[8:] {
		crc ^= binary.BigEndian.Uint32(p)
		crc = t[7][crc>>24] ^ t[6][byte(crc>>16)] ^ t[5][byte(crc>>8)] ^ t[4][byte(crc)] ^
			t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
	}
	for _, b := range p {
		crc = crc<<8 ^ t[0][byte(crc>>24)^b]
	}
	return crc
}
