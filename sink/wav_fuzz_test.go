package sink

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/internal/wavtest"
)

// The ops of FuzzWAVWriter: an op byte's low three bits pick one, its high
// five bits and the byte after it are its argument.
const (
	wavOpWrite   = iota // Write n = arg samples
	wavOpSilence        // WriteSilence(arg)
	wavOpTick           // the clock moves arg*50 ms
	wavOpRefresh        // refreshHeader
	wavOpCheck          // read the files as they are now
	wavOpCount
)

// fuzzSample is sample k of a fuzzed recording: every sample differs from
// its neighbours, so a lost, doubled or moved chunk shows.
func fuzzSample(k int64) int16 { return int16(uint32(k+1) * 2654435761 >> 16) }

// memFiles are the files of a fuzzed WAVWriter, in memory (createFile is
// the seam): no file system, so that a run costs microseconds.
type memFiles map[string]*memFile

type memFile struct {
	name   string
	data   []byte
	closed bool
}

func (fs memFiles) create(path string) (wavOutput, error) {
	f := &memFile{name: path}
	fs[path] = f
	return f, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	f.data = append(f.data, p...)
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if off < 0 || off+int64(len(p)) > int64(len(f.data)) {
		return 0, io.ErrShortWrite // the writer only rewrites its header
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Sync() error  { return nil }
func (f *memFile) Name() string { return f.name }
func (f *memFile) Close() error {
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	return nil
}

// FuzzWAVWriter writes fuzzed sequences of PCM chunks, silence, header
// refreshes and clock ticks with a fuzzed sample rate and a fuzzed file
// size limit (so that rollover files come too), and reads the files back
// with wavtest: mid-way, as a crash would leave them (each finished file
// whole and closed, the current one a valid WAV whose samples are a prefix
// of what was written to it), and after Close (every sample back, in order,
// each file but the last exactly full, sizes in the header matching the
// file, every file closed).
func FuzzWAVWriter(f *testing.F) {
	f.Add(uint16(16000), uint16(0), []byte{wavOpWrite | 2<<3, 128, wavOpTick | 21<<3, 0, wavOpWrite, 10, wavOpCheck, 0})
	f.Add(uint16(8000), uint16(1000), []byte{wavOpWrite | 1<<3, 255, wavOpCheck, 0, wavOpSilence | 3<<3, 7, wavOpCheck, 0})
	f.Add(uint16(1), uint16(3), []byte{wavOpWrite, 5, wavOpRefresh, 0, wavOpWrite, 1, wavOpTick | 31<<3, 0, wavOpRefresh, 0, wavOpCheck, 0})
	f.Add(uint16(48000), uint16(2), []byte{wavOpSilence, 3, wavOpWrite, 0, wavOpCheck, 0})
	f.Add(uint16(7), uint16(9), []byte{wavOpWrite, 4, wavOpTick | 20<<3, 0, wavOpWrite, 4, wavOpCheck, 0, wavOpRefresh, 0, wavOpCheck, 0})
	f.Add(uint16(0), uint16(0), []byte{})
	// An odd rate made an odd buffer that split samples (fixed): 11025 Hz.
	f.Add(uint16(11025), uint16(0), []byte{wavOpWrite | 31<<3, 255, wavOpCheck, 0, wavOpWrite | 1<<3, 0})
	f.Fuzz(func(t *testing.T, rate16, limit16 uint16, ops []byte) {
		files := memFiles{}
		defer func(old func(string) (wavOutput, error)) { createFile = old }(createFile)
		createFile = files.create
		rate := int(rate16)
		if rate == 0 {
			if _, err := CreateWAV("x.wav", 0); !errors.Is(err, ErrSampleRate) || len(files) != 0 {
				t.Fatalf("CreateWAV with rate 0: %v, %d files", err, len(files))
			}
			return
		}
		if limit16 != 0 {
			defer func(old int64) { maxDataBytes = old }(maxDataBytes)
			maxDataBytes = int64(limit16)
		}
		limit := max(maxDataBytes&^1, 2)
		clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		defer func(old func() time.Time) { now = old }(now)
		now = func() time.Time { return clock }

		const base = "p.wav"
		w, err := CreateWAV(base, rate)
		if err != nil {
			t.Fatal(err)
		}
		var want []int16 // every sample written
		var chunk []int16
		// At most 64k samples and 64 files a run: fsyncs and creates are
		// what make a run slow.
		for ; len(ops) >= 2 && len(want) < 1<<16 && int64(len(want))*2/limit < 64; ops = ops[2:] {
			arg := int(ops[0]>>3)<<8 | int(ops[1])
			switch ops[0] & 7 % wavOpCount {
			case wavOpWrite:
				chunk = chunk[:0]
				for i := range arg {
					chunk = append(chunk, fuzzSample(int64(len(want)+i)))
				}
				if err := w.Write(chunk); err != nil {
					t.Fatalf("Write(%d samples): %v", arg, err)
				}
				want = append(want, chunk...)
			case wavOpSilence:
				if err := w.WriteSilence(int64(arg)); err != nil {
					t.Fatalf("WriteSilence(%d): %v", arg, err)
				}
				want = append(want, make([]int16, arg)...)
			case wavOpTick:
				clock = clock.Add(time.Duration(arg) * 50 * time.Millisecond)
			case wavOpRefresh:
				if err := w.refreshHeader(); err != nil {
					t.Fatalf("refreshHeader: %v", err)
				}
			case wavOpCheck:
				checkWAVFiles(t, files, base, w.seg, limit, rate, want, false)
			}
			if w.Samples() != int64(len(want)) {
				t.Fatalf("Samples() = %d, %d written", w.Samples(), len(want))
			}
			if p := w.Path(); p != segmentPath(base, w.seg) {
				t.Fatalf("Path() = %s, writing file %d of %s", p, w.seg, base)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := w.Close(); !errors.Is(err, ErrWriterClosed) {
			t.Fatalf("second Close: %v", err)
		}
		if err := w.Write([]int16{1}); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		checkWAVFiles(t, files, base, w.seg, limit, rate, want, true)
		if len(files) != w.seg {
			t.Fatalf("%d files created, %d written", len(files), w.seg)
		}
	})
}

// checkWAVFiles reads files 1..segs of the recording whose first file is
// base; every file but the last is closed, the last only if closed. Every file is a valid WAV at rate, and all but the last hold exactly
// limit bytes of PCM. closed: the files hold want, the last one's header
// sizes matching the file exactly; else they hold a prefix of want, the last
// file's header counting no byte that is not in it.
func checkWAVFiles(t *testing.T, files memFiles, base string, segs int, limit int64, rate int, want []int16, closed bool) {
	t.Helper()
	var got []int16
	for seg := 1; seg <= segs; seg++ {
		f := files[segmentPath(base, seg)]
		if f == nil {
			t.Fatalf("file %d of %d was never created", seg, segs)
		}
		if last := seg == segs; f.closed != (!last || closed) {
			t.Fatalf("file %d of %d (writer closed %v): file closed %v", seg, segs, closed, f.closed)
		}
		raw := f.data
		pcm, r, msg := wavtest.Parse(raw)
		if msg != "" {
			t.Fatalf("file %d of %d (closed %v): %s", seg, segs, closed, msg)
		}
		if r != rate {
			t.Fatalf("file %d: rate %d, want %d", seg, r, rate)
		}
		data := int64(binary.LittleEndian.Uint32(raw[40:]))
		riff := int64(binary.LittleEndian.Uint32(raw[4:]))
		if riff != data+wavHeaderSize-8 || data != 2*int64(len(pcm)) {
			t.Fatalf("file %d: RIFF size %d, data size %d, %d samples", seg, riff, data, len(pcm))
		}
		last := seg == segs
		if !last && data != limit {
			t.Fatalf("file %d of %d: %d bytes of PCM, want %d", seg, segs, data, limit)
		}
		if (!last || closed) && int64(len(raw)) != wavHeaderSize+data {
			t.Fatalf("file %d of %d (closed %v): %d bytes, the header says %d", seg, segs, closed, len(raw), wavHeaderSize+data)
		}
		if last && closed && seg > 1 && data == 0 {
			t.Fatalf("rollover file %d is empty", seg)
		}
		got = append(got, pcm...)
	}
	if closed && !slices.Equal(got, want) {
		t.Fatalf("read back %d samples, wrote %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	if !closed && (len(got) > len(want) || !slices.Equal(got, want[:len(got)])) {
		t.Fatalf("mid-way: read back %d samples that are not a prefix of the %d written (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}
