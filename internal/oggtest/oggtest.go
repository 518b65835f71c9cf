// Package oggtest reads Ogg Opus files back in tests: the Ogg pages (RFC
// 3533, CRCs checked) and the Opus packets on them, decoded with libopus
// after the OpusHead's pre-skip, as any player does.
package oggtest

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

// Page is one Ogg page.
type Page struct {
	Flags   byte
	Granule int64
	Serial  uint32
	Seq     uint32
	Packets [][]byte // the packets that end on the page (none is split across pages here)
}

// Read returns the pages of the Ogg file at path, failing the test on a
// torn or corrupt page.
func Read(t testing.TB, path string) []Page {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pages []Page
	for len(raw) > 0 {
		if len(raw) < 27 || !bytes.Equal(raw[:4], []byte("OggS")) {
			t.Fatalf("%s: page %d: no Ogg page header", path, len(pages))
		}
		nsegs := int(raw[26])
		if len(raw) < 27+nsegs {
			t.Fatalf("%s: page %d: torn segment table", path, len(pages))
		}
		lacing := raw[27 : 27+nsegs]
		size := 27 + nsegs
		for _, l := range lacing {
			size += int(l)
		}
		if len(raw) < size {
			t.Fatalf("%s: page %d: torn (%d of %d bytes)", path, len(pages), len(raw), size)
		}
		page := append([]byte(nil), raw[:size]...)
		want := binary.LittleEndian.Uint32(page[22:])
		binary.LittleEndian.PutUint32(page[22:], 0)
		if got := crc(page); got != want {
			t.Fatalf("%s: page %d: CRC %08x, want %08x", path, len(pages), got, want)
		}
		p := Page{Flags: raw[5], Granule: int64(binary.LittleEndian.Uint64(raw[6:])),
			Serial: binary.LittleEndian.Uint32(raw[14:]), Seq: binary.LittleEndian.Uint32(raw[18:])}
		body, start, n := raw[27+nsegs:size], 0, 0
		for _, l := range lacing {
			n += int(l)
			if l < 255 {
				p.Packets = append(p.Packets, body[start:start+n])
				start, n = start+n, 0
			}
		}
		pages = append(pages, p)
		raw = raw[size:]
	}
	return pages
}

// Decode decodes the Opus file at path to 48 kHz mono PCM with libopus,
// the OpusHead's pre-skip dropped.
func Decode(t testing.TB, path string) []int16 {
	t.Helper()
	pages := Read(t, path)
	if len(pages) < 2 || len(pages[0].Packets) != 1 || !bytes.HasPrefix(pages[0].Packets[0], []byte("OpusHead")) {
		t.Fatalf("%s: no OpusHead on the first page", path)
	}
	head := pages[0].Packets[0]
	preSkip := int(binary.LittleEndian.Uint16(head[10:]))
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	buf := make([]int16, 5760)
	for _, p := range pages[2:] {
		for _, pkt := range p.Packets {
			n, err := dec.Decode(pkt, buf)
			if err != nil {
				t.Fatalf("%s: decode: %v", path, err)
			}
			pcm = append(pcm, buf[:n]...)
		}
	}
	if len(pcm) < preSkip {
		t.Fatalf("%s: %d samples, under the pre-skip %d", path, len(pcm), preSkip)
	}
	return pcm[preSkip:]
}

var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// crc is the Ogg page checksum (polynomial 0x04c11db7, not reflected).
func crc(p []byte) uint32 {
	var c uint32
	for _, b := range p {
		c = c<<8 ^ crcTable[byte(c>>24)^b]
	}
	return c
}
