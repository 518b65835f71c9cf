package audio

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

// encodedOpus encodes a 440 Hz tone with libopus in packets of ms
// milliseconds (48 kHz, channels as given, VoIP mode) and returns them.
func encodedOpus(t testing.TB, ms float64, channels, packets int) [][]byte {
	t.Helper()
	enc, err := opus.NewEncoder(48000, channels, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	n := int(ms * 48)
	pcm := make([]int16, n*channels)
	buf := make([]byte, 4000)
	var out [][]byte
	for k := range packets {
		for i := range n {
			v := int16(8000 * math.Sin(2*math.Pi*440*float64(k*n+i)/48000))
			for c := range channels {
				pcm[i*channels+c] = v
			}
		}
		m, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatalf("encode %v ms: %v", ms, err)
		}
		out = append(out, bytes.Clone(buf[:m]))
	}
	return out
}

func TestOpusSamplesOfEncodedPackets(t *testing.T) {
	for _, tc := range []struct {
		ms       float64
		channels int
	}{
		{2.5, 1}, {5, 1}, {10, 1}, {20, 1}, {40, 1}, {60, 1}, {20, 2}, {60, 2},
	} {
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, 5760)
		for i, p := range encodedOpus(t, tc.ms, tc.channels, 5) {
			got, err := OpusSamples(p)
			if err != nil {
				t.Fatalf("%v ms x%d packet %d (% x): %v", tc.ms, tc.channels, i, p[:min(len(p), 4)], err)
			}
			if want := int(tc.ms * 48); got != want {
				t.Errorf("%v ms x%d packet %d (TOC %#02x): %d samples, want %d", tc.ms, tc.channels, i, p[0], got, want)
			}
			n, err := dec.Decode(p, pcm)
			if err != nil || n != got {
				t.Errorf("%v ms x%d packet %d: libopus decodes %d samples (%v), OpusSamples says %d", tc.ms, tc.channels, i, n, err, got)
			}
		}
	}
}

func TestOpusSamplesOfHandBuiltPackets(t *testing.T) {
	long := func(n int) []byte { return make([]byte, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		p    []byte
		want int // -1: malformed
	}{
		{"empty", nil, -1},
		// code 0, one frame; a TOC alone is a zero-length frame (§3.2.1)
		{"SILK NB 10 ms TOC only", []byte{0<<3 | 0}, 480},
		{"SILK NB 20 ms", []byte{1 << 3, 0xaa}, 960},
		{"SILK MB 40 ms", []byte{6 << 3, 1, 2}, 1920},
		{"SILK WB 60 ms", []byte{11 << 3, 1}, 2880},
		{"Hybrid SWB 10 ms", []byte{12 << 3, 1}, 480},
		{"Hybrid FB 20 ms", []byte{15 << 3, 1}, 960},
		{"CELT NB 2.5 ms", []byte{16 << 3}, 120},
		{"CELT WB 5 ms", []byte{21 << 3}, 240},
		{"CELT SWB 10 ms", []byte{26 << 3}, 480},
		{"CELT FB 20 ms TOC only", []byte{0xf8}, 960},
		{"CELT FB 20 ms stereo", []byte{0xfc, 1, 2, 3}, 960},
		{"code 0 frame of 1275 bytes", cat([]byte{0xf8}, long(1275)), 960},
		{"code 0 frame of 1276 bytes", cat([]byte{0xf8}, long(1276)), -1},
		// code 1: two frames of equal size
		{"code 1 empty frames", []byte{0xf9}, 1920},
		{"code 1 2x2 bytes", []byte{0xf9, 1, 2, 3, 4}, 1920},
		{"code 1 odd length", []byte{0xf9, 1, 2, 3}, -1},
		{"code 1 SILK 60 ms", []byte{3<<3 | 1}, 5760},
		{"code 1 2x1276 bytes", cat([]byte{0xf9}, long(2552)), -1},
		// code 2: two frames, the first's length coded
		{"code 2 lengths 1 and 2", []byte{0xfa, 1, 9, 8, 7}, 1920},
		{"code 2 both empty", []byte{0xfa, 0}, 1920},
		{"code 2 no length", []byte{0xfa}, -1},
		{"code 2 first overruns", []byte{0xfa, 5, 1, 2}, -1},
		{"code 2 two-byte length", cat([]byte{0xfa, 252, 1}, long(256)), 1920}, // 4*1+252 = 256, second empty
		{"code 2 two-byte length cut", []byte{0xfa, 252}, -1},
		{"code 2 second of 1276", cat([]byte{0xfa, 0}, long(1276)), -1},
		// code 3: frame count byte
		{"code 3 no count", []byte{0xfb}, -1},
		{"code 3 zero frames", []byte{0xfb, 0}, -1},
		{"code 3 CBR 3 empty", []byte{0xfb, 3}, 2880},
		{"code 3 CBR 6x20 ms = 120 ms", []byte{0xfb, 6}, 5760},
		{"code 3 CBR 7x20 ms > 120 ms", []byte{0xfb, 7}, -1},
		{"code 3 CBR 48x2.5 ms", []byte{16<<3 | 3, 48}, 5760},
		{"code 3 CBR 49x2.5 ms", []byte{16<<3 | 3, 49}, -1},
		{"code 3 SILK 2x60 ms", []byte{3<<3 | 3, 2}, 5760},
		{"code 3 SILK 3x60 ms", []byte{3<<3 | 3, 3}, -1},
		{"code 3 CBR 2x3 bytes", []byte{0xfb, 2, 1, 2, 3, 4, 5, 6}, 1920},
		{"code 3 CBR uneven", []byte{0xfb, 2, 1, 2, 3}, -1},
		{"code 3 CBR padded", []byte{0xfb, 0x42, 2, 1, 2, 0, 0}, 1920},
		{"code 3 CBR padding 255 chain", cat([]byte{0xfb, 0x41, 255, 0}, long(254)), 960},
		{"code 3 padding runs off", []byte{0xfb, 0x41}, -1},
		{"code 3 padding longer than packet", []byte{0xfb, 0x41, 5, 1}, -1},
		{"code 3 VBR 3 frames", []byte{0xfb, 0x83, 1, 2, 9, 8, 8, 7, 7, 7}, 2880},
		{"code 3 VBR all empty", []byte{0xfb, 0x83, 0, 0}, 2880},
		{"code 3 VBR length missing", []byte{0xfb, 0x83, 0}, -1},
		{"code 3 VBR frame overruns", []byte{0xfb, 0x82, 4, 1, 2}, -1},
		{"code 3 VBR frames overrun together", []byte{0xfb, 0x83, 2, 2, 1, 2, 3}, -1},
		{"code 3 VBR padded", []byte{0xfb, 0xc2, 1, 1, 9, 8, 0}, 1920},
		{"code 3 VBR last of 1276", cat([]byte{0xfb, 0x82, 0}, long(1276)), -1},
	} {
		got, err := OpusSamples(tc.p)
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%s (% x): %d samples, want an error", tc.name, tc.p[:min(len(tc.p), 8)], got)
		case tc.want < 0 && !errors.Is(err, ErrBadOpusPacket):
			t.Errorf("%s: error %v does not wrap ErrBadOpusPacket", tc.name, err)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("%s (% x): %d, %v; want %d", tc.name, tc.p[:min(len(tc.p), 8)], got, err, tc.want)
		}
		checkAgainstLibopus(t, tc.p, got, err)
	}
}

// checkAgainstLibopus decodes p with libopus (if it is not empty) and
// fails unless libopus refuses exactly what OpusSamples refuses and decodes
// the number of samples it says.
func checkAgainstLibopus(t *testing.T, p []byte, samples int, err error) {
	t.Helper()
	if len(p) == 0 {
		return // hraban/opus refuses an empty slice before libopus sees it
	}
	dec, derr := opus.NewDecoder(48000, 1)
	if derr != nil {
		t.Fatal(derr)
	}
	n, derr := dec.Decode(p, make([]int16, 5760))
	switch {
	case err == nil && derr != nil:
		t.Errorf("% x: OpusSamples says %d samples, libopus refuses it: %v", p[:min(len(p), 8)], samples, derr)
	case err != nil && derr == nil:
		t.Errorf("% x: OpusSamples refuses it (%v), libopus decodes %d samples", p[:min(len(p), 8)], err, n)
	case err == nil && n != samples:
		t.Errorf("% x: OpusSamples says %d samples, libopus decodes %d", p[:min(len(p), 8)], samples, n)
	}
}

func TestOpusSamplesDoesNotAllocate(t *testing.T) {
	packets := append(encodedOpus(t, 20, 1, 3),
		[]byte{0xfb, 0x83, 1, 2, 9, 8, 8, 7, 7, 7}, // code 3 VBR
		[]byte{0xfb, 0x42, 2, 1, 2, 0, 0},          // code 3 padded
		[]byte{0xfa, 5, 1, 2},                      // malformed: the error path
	)
	for _, p := range packets {
		if allocs := testing.AllocsPerRun(100, func() { OpusSamples(p) }); allocs != 0 {
			t.Errorf("OpusSamples(% x...): %v allocations, want 0", p[:min(len(p), 4)], allocs)
		}
	}
}

// FuzzOpusSamples checks OpusSamples against libopus: never a panic, a
// duration that is a whole number of 2.5 ms up to 120 ms, and exactly the
// packets libopus refuses refused, with the number of samples it decodes.
func FuzzOpusSamples(f *testing.F) {
	for _, p := range [][]byte{
		{0xf8}, {0x08, 1, 2}, {0xf9, 1, 2}, {0xfa, 1, 9, 8, 7}, {0xfb, 0x83, 1, 2, 9, 8, 8, 7, 7, 7},
		{0xfb, 0x42, 2, 1, 2, 0, 0}, {0xfb, 0x41, 255, 0}, {0xfb, 7}, {0xfa, 252},
	} {
		f.Add(p)
	}
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		f.Fatal(err)
	}
	pcm := make([]int16, 5760)
	f.Fuzz(func(t *testing.T, p []byte) {
		n, err := OpusSamples(p)
		if err != nil {
			if !errors.Is(err, ErrBadOpusPacket) {
				t.Fatalf("error %v does not wrap ErrBadOpusPacket", err)
			}
			if n != 0 {
				t.Fatalf("%d samples with an error", n)
			}
		} else if n <= 0 || n > 5760 || n%120 != 0 {
			t.Fatalf("%d samples: not a whole number of 2.5 ms in (0, 120 ms]", n)
		}
		if len(p) == 0 {
			return
		}
		got, derr := dec.Decode(p, pcm)
		switch {
		case err == nil && derr != nil:
			t.Fatalf("OpusSamples says %d samples, libopus refuses it: %v", n, derr)
		case err != nil && derr == nil:
			t.Fatalf("OpusSamples refuses it (%v), libopus decodes %d samples", err, got)
		case err == nil && got != n:
			t.Fatalf("OpusSamples says %d samples, libopus decodes %d", n, got)
		}
	})
}
