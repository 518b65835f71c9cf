package sink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/internal/oggtest"
)

// The ops of FuzzOggOpusWriter: an op byte's low two bits pick one.
const (
	oggOpPacket = iota // WritePacket: length (2 bytes), fill byte, delta (2 bytes), then the payload's bytes
	oggOpFillTo        // FillTo: delta (2 bytes)
	oggOpFlush         // Flush
	oggOpCheck         // read the file as it is on disk now
)

// oggFuzzMaxSamples bounds the file a run writes (two minutes): gaps are
// fuzzed, and fillers for hours would make a run slow.
const oggFuzzMaxSamples = 120 * 48000

// oggWant is the reference a fuzzed OggOpusWriter is held to: where each
// accepted packet must start in the file (48 kHz samples, the pre-skip
// included) and how long the file is.
type oggWant struct {
	start   int64
	pos     int64            // file samples so far, pre-skip filler included
	packets map[int64][]byte // accepted packets by the file position they start at
	order   []int64
}

// fill is the writer's gap rule: a gap of at least half of 2.5 ms before
// media position at, rounded to whole 2.5 ms.
func (m *oggWant) fill(at int64) {
	if gap := at - (m.start + m.pos - oggPreSkip); gap >= opusGranule/2 {
		m.pos += (gap + opusGranule/2) / opusGranule * opusGranule
	}
}

// FuzzOggOpusWriter writes fuzzed Opus packets at fuzzed media positions
// (gaps, overlaps, long jumps), fuzzed FillTo and Flush calls and fuzzed
// OpusTags comments, and reads the file back with oggtest (which checks
// each page's CRC), mid-way and after Close: OpusHead then OpusTags (the
// comments given) on pages of their own, one serial, page numbers from 0,
// BOS first and EOS last only, granule positions that are each page's
// sample count (never decreasing), every accepted packet whole at the
// position the gap rule puts it, nothing else but gap fillers, and the
// file's length what Position says. A refused packet must be one
// audio.OpusSamples refuses (or longer than a page holds) and change nothing.
func FuzzOggOpusWriter(f *testing.F) {
	pkt := func(toc byte, n int, delta int16, fill byte) []byte {
		return []byte{oggOpPacket, byte(n >> 8), byte(n), fill, byte(uint16(delta) >> 8), byte(delta), toc}
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add(uint32(0), "CALL_ID=c\nPARTICIPANT_ID=p", join(pkt(0xf8, 40, 0, 1), pkt(0xf8, 40, 0, 2), []byte{oggOpCheck}, pkt(0xf8, 40, 960, 3)))
	f.Add(uint32(48000), "", join(pkt(0x48, 30, 4800, 7), []byte{oggOpFillTo, 0x40, 0}, pkt(0x48, 30, -100, 7), []byte{oggOpFlush, oggOpCheck}))
	f.Add(uint32(7), "A=b", join(pkt(0xfb, 3, 0, 0), pkt(0x00, 0, 0, 0), pkt(0xf8, 1300, 0, 9), pkt(0xf9, 600, 0x7fff, 9)))
	f.Add(uint32(1), "=bad", []byte{})
	f.Add(uint32(2), "BAD\x7f=x", []byte{})
	f.Add(uint32(3), "X", []byte{})
	f.Add(uint32(5), "", join(pkt(0x03, 2, 0, 0), pkt(0xfb, 0x3ff, 0, 0)))
	var long []byte
	for i := range 60 {
		long = append(long, pkt(byte(i)<<3, 20, 0, byte(i))...)
	}
	f.Add(uint32(9), "", long)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, start uint32, comments string, ops []byte) {
		var opts OggOpusOptions
		opts.Start, opts.Serial = int64(start), 0x5eed
		if comments != "" {
			opts.Comments = strings.Split(comments, "\n")
		}
		path := filepath.Join(dir, "p.opus")
		w, err := NewOggOpusWriter(path, opts)
		tagsOK, tagsLen := true, 8+4+len(defaultVendor)+4
		for _, c := range opts.Comments {
			tagsLen += 4 + len(c)
			name, _, ok := strings.Cut(c, "=")
			tagsOK = tagsOK && ok && name != "" && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r > 0x7d })
		}
		tagsOK = tagsOK && tagsLen <= oggMaxPacket
		if (err == nil) != tagsOK {
			t.Fatalf("comments %q: NewOggOpusWriter: %v", opts.Comments, err)
		}
		if err != nil {
			return
		}
		m := &oggWant{start: opts.Start, pos: oggPreSkip, packets: map[int64][]byte{}}
		next := opts.Start // where a packet right after the last one would start
		for len(ops) > 0 {
			op := ops[0]
			ops = ops[1:]
			switch op & 3 {
			case oggOpPacket:
				if len(ops) < 5 {
					ops = nil
					break
				}
				n, fill, delta := int(binary.BigEndian.Uint16(ops)), ops[2], int64(int16(binary.BigEndian.Uint16(ops[3:])))
				ops = ops[5:]
				if op&4 != 0 {
					delta *= 64 // a long gap or overlap
				}
				if n > 0 && op&8 != 0 {
					n += oggMaxPacket - 8 // around what a page holds
				}
				payload := make([]byte, n)
				k := copy(payload, ops)
				ops = ops[k:]
				for i := k; i < n; i++ {
					payload[i] = fill
				}
				at := next + delta
				if at-m.start > oggFuzzMaxSamples {
					continue
				}
				size, before := w.Size(), w.Position()
				samples, serr := audio.OpusSamples(payload)
				err := w.WritePacket(payload, at)
				switch {
				case serr != nil || len(payload) > oggMaxPacket:
					if err == nil || !errors.Is(err, audio.ErrBadOpusPacket) && !errors.Is(err, audio.ErrPacketTooLong) {
						t.Fatalf("WritePacket of a packet that is not Opus (%v) or too long (%d bytes): %v", serr, len(payload), err)
					}
					if w.Size() != size || w.Position() != before {
						t.Fatalf("a refused packet changed the file: size %d -> %d, position %d -> %d", size, w.Size(), before, w.Position())
					}
					continue
				case err != nil:
					t.Fatalf("WritePacket of %d bytes at %d: %v", len(payload), at, err)
				}
				m.fill(at)
				m.packets[m.pos] = payload
				m.order = append(m.order, m.pos)
				m.pos += int64(samples)
				next = at + int64(samples)
			case oggOpFillTo:
				if len(ops) < 2 {
					ops = nil
					break
				}
				at := next + 64*int64(int16(binary.BigEndian.Uint16(ops)))
				ops = ops[2:]
				if at-m.start > oggFuzzMaxSamples {
					continue
				}
				if err := w.FillTo(at); err != nil {
					t.Fatalf("FillTo(%d): %v", at, err)
				}
				m.fill(at)
			case oggOpFlush:
				if err := w.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			case oggOpCheck:
				checkOggFile(t, path, opts, m, false)
			}
			if got, want := w.Position(), m.start+m.pos-oggPreSkip; got != want {
				t.Fatalf("Position() = %d, want %d", got, want)
			}
		}
		size := w.Size()
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := w.WritePacket([]byte{0xf8}, 0); !errors.Is(err, ErrWriterClosed) {
			t.Fatalf("WritePacket after Close: %v", err)
		}
		if n := checkOggFile(t, path, opts, m, true); n != size {
			t.Fatalf("file of %d bytes, Size() said %d before Close", n, size)
		}
	})
}

// checkOggFile reads the file at path and holds it to m: all of it if
// closed, else the pages written so far (a prefix of it). It returns the
// file's size.
func checkOggFile(t *testing.T, path string, opts OggOpusOptions, m *oggWant, closed bool) int64 {
	t.Helper()
	pages := oggtest.Read(t, path)
	if len(pages) < 2 {
		t.Fatalf("%d pages: no header pages", len(pages))
	}
	wantTags, err := opusTags(opts)
	if err != nil {
		t.Fatal(err)
	}
	var pos, size int64
	seen := 0
	for i, p := range pages {
		size += int64(27 + len(p.Packets))
		for _, pkt := range p.Packets {
			size += int64(len(pkt)) + int64(len(pkt)/255)
		}
		wantFlags := byte(0)
		if i == 0 {
			wantFlags |= oggBOS
		}
		if closed && i == len(pages)-1 {
			wantFlags |= oggEOS
		}
		switch {
		case p.Flags != wantFlags:
			t.Fatalf("page %d of %d: flags %#x, want %#x", i, len(pages), p.Flags, wantFlags)
		case p.Serial != opts.Serial || p.Seq != uint32(i):
			t.Fatalf("page %d: serial %#x, number %d", i, p.Serial, p.Seq)
		case i == 0 && (len(p.Packets) != 1 || !bytes.Equal(p.Packets[0], opusHead()) || p.Granule != 0):
			t.Fatalf("page 0 is not OpusHead alone: %q, granule %d", p.Packets, p.Granule)
		case i == 1 && (len(p.Packets) != 1 || !bytes.Equal(p.Packets[0], wantTags) || p.Granule != 0):
			t.Fatalf("page 1 is not OpusTags alone: %q, granule %d", p.Packets, p.Granule)
		case i < 2:
			continue
		case len(p.Packets) == 0 || len(p.Packets) > oggPagePackets:
			t.Fatalf("page %d holds %d packets", i, len(p.Packets))
		}
		for _, pkt := range p.Packets {
			n, err := audio.OpusSamples(pkt)
			if err != nil {
				t.Fatalf("page %d: packet at %d is not Opus: %v", i, pos, err)
			}
			if pos == 0 {
				if !bytes.Equal(pkt, []byte{opusPreSkipTOC}) {
					t.Fatalf("the first audio packet is %x, not the pre-skip filler", pkt)
				}
			} else if want, ok := m.packets[pos]; ok {
				if !bytes.Equal(pkt, want) {
					t.Fatalf("packet at %d: %d bytes %.8x..., want the %d bytes %.8x... written there", pos, len(pkt), pkt, len(want), want)
				}
				seen++
			} else if !(len(pkt) == 1 || len(pkt) == 3 && pkt[1] == 0xff && pkt[2] == 0xfe) || pkt[0]&3 != 0 {
				t.Fatalf("packet at %d (%x) is neither a packet written nor a gap filler", pos, pkt)
			}
			pos += int64(n)
		}
		if p.Granule != pos {
			t.Fatalf("page %d: granule %d, its packets end at %d", i, p.Granule, pos)
		}
	}
	if closed && (pos != m.pos || seen != len(m.order)) {
		t.Fatalf("the file ends at %d with %d packets written, want %d with %d", pos, seen, m.pos, len(m.order))
	}
	if !closed {
		due := 0
		for _, at := range m.order {
			if at < pos {
				due++
			}
		}
		if seen != due || pos > m.pos {
			t.Fatalf("mid-way: the file ends at %d with %d packets written, %d of them due; %d written in all", pos, seen, due, m.pos)
		}
	}
	return size
}
