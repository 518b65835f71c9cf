package sink

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// wavFile is what readWAV found in a file.
type wavFile struct {
	rate        int
	riffSize    uint32 // as the header says
	dataSize    uint32 // as the header says
	samples     []int16
	trailingPCM int // bytes after the declared data (written after the last header update)
}

// readWAV parses a RIFF/WAVE file chunk by chunk, as a standard reader
// would, and checks that it is mono 16-bit PCM with consistent fields.
func readWAV(t *testing.T, path string) wavFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s: not RIFF/WAVE", path)
	}
	var w wavFile
	w.riffSize = binary.LittleEndian.Uint32(b[4:])
	if int64(w.riffSize)+8 > int64(len(b)) {
		t.Fatalf("%s: RIFF size %d beyond file size %d", path, w.riffSize, len(b))
	}
	var sawFmt, sawData bool
	for off := 12; off+8 <= int(w.riffSize)+8; {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8:]
		if size > len(body) {
			t.Fatalf("%s: chunk %q size %d beyond file", path, id, size)
		}
		body = body[:size]
		switch id {
		case "fmt ":
			sawFmt = true
			if size < 16 {
				t.Fatalf("%s: fmt chunk size %d", path, size)
			}
			format := binary.LittleEndian.Uint16(body[0:])
			channels := binary.LittleEndian.Uint16(body[2:])
			w.rate = int(binary.LittleEndian.Uint32(body[4:]))
			byteRate := binary.LittleEndian.Uint32(body[8:])
			blockAlign := binary.LittleEndian.Uint16(body[12:])
			bits := binary.LittleEndian.Uint16(body[14:])
			if format != 1 || channels != 1 || bits != 16 || blockAlign != 2 || byteRate != uint32(2*w.rate) {
				t.Fatalf("%s: fmt = format %d, %d channels, %d bits, block %d, byte rate %d at %d Hz",
					path, format, channels, bits, blockAlign, byteRate, w.rate)
			}
		case "data":
			if !sawFmt {
				t.Fatalf("%s: data before fmt", path)
			}
			sawData = true
			w.dataSize = uint32(size)
			w.samples = make([]int16, size/2)
			for i := range w.samples {
				w.samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			w.trailingPCM = len(b) - (off + 8 + size)
		}
		off += 8 + size + size%2
	}
	if !sawData {
		t.Fatalf("%s: no data chunk", path)
	}
	if w.riffSize != w.dataSize+wavHeaderSize-8 {
		t.Fatalf("%s: RIFF size %d, data size %d", path, w.riffSize, w.dataSize)
	}
	return w
}

func ramp(n int, from int16) []int16 {
	p := make([]int16, n)
	for i := range p {
		p[i] = from + int16(i)
	}
	return p
}

// fakeClock replaces the package clock for one test.
func fakeClock(t *testing.T) *time.Time {
	t.Helper()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	return &clock
}

func TestWAVWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	w, err := CreateWAV(path, 16000)
	if err != nil {
		t.Fatal(err)
	}
	want := append(ramp(320, -100), make([]int16, 1000)...)
	want = append(want, ramp(7, 5)...)
	if err := w.Write(want[:320]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSilence(1000); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(want[1320:]); err != nil {
		t.Fatal(err)
	}
	if got := w.Samples(); got != int64(len(want)) {
		t.Fatalf("Samples() = %d, want %d", got, len(want))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("second Close = %v, want ErrWriterClosed", err)
	}
	if err := w.Write(want); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Write after Close = %v, want ErrWriterClosed", err)
	}
	got := readWAV(t, path)
	if got.rate != 16000 || !slices.Equal(got.samples, want) || got.trailingPCM != 0 {
		t.Fatalf("read back %d Hz, %d samples, %d trailing bytes; want 16000 Hz, %d samples",
			got.rate, len(got.samples), got.trailingPCM, len(want))
	}
}

// TestS16LEIsLittleEndianEitherWay checks the conversion a big-endian host
// takes against the in-place view this host takes.
func TestS16LEIsLittleEndianEitherWay(t *testing.T) {
	pcm := []int16{0, 1, -1, 0x1234, -0x8000, 0x7fff}
	want := []byte{0, 0, 1, 0, 0xff, 0xff, 0x34, 0x12, 0, 0x80, 0xff, 0x7f}
	var buf []byte
	if got := s16le(pcm, &buf); !slices.Equal(got, want) {
		t.Fatalf("native: % x, want % x", got, want)
	}
	defer func(le bool) { littleEndian = le }(littleEndian)
	littleEndian = false
	if got := s16le(pcm, &buf); !slices.Equal(got, want) {
		t.Fatalf("converted: % x, want % x", got, want)
	}
}

func TestWAVWriterHeaderValidWithoutCloseAfterOneSecond(t *testing.T) {
	clock := fakeClock(t)
	path := filepath.Join(t.TempDir(), "a.wav")
	w, err := CreateWAV(path, 8000)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	frame := ramp(160, 1)
	for range 10 { // 200 ms of audio within the same wall second
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Within the second, the samples wait in the writer's buffer: the file
	// is a valid, empty WAV.
	if got := readWAV(t, path); len(got.samples) != 0 || got.trailingPCM != 0 {
		t.Fatalf("before a second passed: header says %d samples, %d bytes after; want 0 and 0",
			len(got.samples), got.trailingPCM)
	}
	*clock = clock.Add(1100 * time.Millisecond)
	if err := w.Write(frame); err != nil {
		t.Fatal(err)
	}
	// No Close: this is what a reader sees after kill -9.
	got := readWAV(t, path)
	if len(got.samples) != 11*160 || got.trailingPCM != 0 {
		t.Fatalf("after a second: header says %d samples (%d bytes after), want %d", len(got.samples), got.trailingPCM, 11*160)
	}
	if !slices.Equal(got.samples[1600:], frame) {
		t.Fatal("samples differ")
	}
}

func TestWAVWriterRollsOverPastMaxDataBytes(t *testing.T) {
	defer func(old int64) { maxDataBytes = old }(maxDataBytes)
	maxDataBytes = 1000 // 500 samples per file
	dir := t.TempDir()
	w, err := CreateWAV(filepath.Join(dir, "p.wav"), 16000)
	if err != nil {
		t.Fatal(err)
	}
	want := ramp(1300, -600)
	for i := 0; i < len(want); i += 320 {
		if err := w.Write(want[i:min(i+320, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Path(); got != filepath.Join(dir, "p.3.wav") {
		t.Fatalf("Path() = %s, want p.3.wav", got)
	}
	if err := w.Rename(filepath.Join(dir, "q.wav")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var all []int16
	for _, name := range []string{"q.wav", "q.2.wav", "q.3.wav"} {
		all = append(all, readWAV(t, filepath.Join(dir, name)).samples...)
	}
	if !slices.Equal(all, want) || w.Samples() != 1300 {
		t.Fatalf("files hold %d samples (Samples() = %d), want the %d written", len(all), w.Samples(), len(want))
	}
	for _, name := range []string{"p.wav", "p.2.wav", "p.3.wav", "q.4.wav"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: exists (err %v)", name, err)
		}
	}
}

func TestWAVWriterWriteDoesNotAllocate(t *testing.T) {
	w, err := CreateWAV(filepath.Join(t.TempDir(), "a.wav"), 48000)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	frame := ramp(960, 0)
	if err := w.Write(frame); err != nil { // sizes the buffer
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(200, func() {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("Write allocates %v times per call, want 0", allocs)
	}
}

func TestCreateWAVRejectsBadRate(t *testing.T) {
	if _, err := CreateWAV(filepath.Join(t.TempDir(), "a.wav"), 0); !errors.Is(err, ErrSampleRate) {
		t.Fatalf("err = %v, want ErrSampleRate", err)
	}
}

func BenchmarkWAVWriterWrite(b *testing.B) {
	w, err := CreateWAV(filepath.Join(b.TempDir(), "a.wav"), 16000)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	frame := ramp(320, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
}
