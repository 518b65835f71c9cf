package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// wavHeaderSize is the size of the canonical RIFF/WAVE PCM header: RIFF
// chunk header (12), fmt chunk (8+16), data chunk header (8).
const wavHeaderSize = 44

// maxDataBytes is the most PCM bytes one WAV file holds: the RIFF size field
// is a uint32 and counts everything after its first 8 bytes. Tests lower it
// to exercise rollover.
var maxDataBytes int64 = (1<<32 - 1 - (wavHeaderSize - 8)) &^ 1

// headerEvery is how often, in wall time, the sizes in the header of a file
// being written are brought up to date.
const headerEvery = time.Second

// now is the wall clock; tests replace it.
var now = time.Now

// zeroBlock is the source of silence; it is only ever read.
var zeroBlock [8192]byte

// wavOutput is the part of *os.File a WAVWriter uses. It is a seam for tests
// that need a file to fail the way a full disk does (ENOSPC), which no
// portable test can arrange for a real file.
type wavOutput interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
	Name() string
}

// createFile creates or truncates a WAV file; tests replace it.
var createFile = func(path string) (wavOutput, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// WAVWriter writes mono 16-bit little-endian PCM to a WAV file.
//
// Crash safety: the header's RIFF and data sizes are rewritten in place at
// least once per second of wall time while writing, so after a kill -9 a
// standard reader sees all but the last second; Close writes the final
// header and fsyncs. Past maxDataBytes (4 GiB less the header) the writer
// closes the file and continues in {base}.2.wav, {base}.3.wav, ...
//
// A WAVWriter is not safe for concurrent use.
type WAVWriter struct {
	f          wavOutput
	base       string // path of the first file, "{base}.wav"
	seg        int    // number of the file being written, from 1
	rate       int
	segBytes   int64 // PCM bytes in the current file, pending ones included
	diskBytes  int64 // PCM bytes of the current file written to it
	hdrBytes   int64 // PCM bytes the current file's header counts
	total      int64 // samples written across all files
	lastHeader time.Time
	buf        []byte  // reusable s16le conversion buffer (big-endian hosts)
	pending    []byte  // PCM not yet written to the file; cap pendingBytes
	sizes      [4]byte // reusable header size field
	err        error   // first write error; sticky
}

// CreateWAV creates (or truncates) the WAV file at path, which should end in
// ".wav", and writes a header that says it is empty.
func CreateWAV(path string, sampleRate int) (*WAVWriter, error) {
	if sampleRate <= 0 {
		return nil, fmt.Errorf("create wav %s: %w: %d", path, ErrSampleRate, sampleRate)
	}
	w := &WAVWriter{base: path, seg: 1, rate: sampleRate, pending: make([]byte, 0, pendingBytes(sampleRate))}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// segmentPath is the path of file number seg of a recording whose first file
// is base: base itself, then "{base without its extension}.{seg}{extension}"
// (alice.wav, alice.2.wav; alice.opus, alice.2.opus).
func segmentPath(base string, seg int) string {
	if seg <= 1 {
		return base
	}
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "." + strconv.Itoa(seg) + ext
}

func (w *WAVWriter) open() error {
	path := segmentPath(w.base, w.seg)
	f, err := createFile(path)
	if err != nil {
		return fmt.Errorf("create wav: %w", err)
	}
	var h [wavHeaderSize]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], wavHeaderSize-8)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	binary.LittleEndian.PutUint32(h[16:], 16) // fmt chunk size
	binary.LittleEndian.PutUint16(h[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(h[22:], 1)  // mono
	binary.LittleEndian.PutUint32(h[24:], uint32(w.rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(w.rate*2)) // byte rate
	binary.LittleEndian.PutUint16(h[32:], 2)                // block align
	binary.LittleEndian.PutUint16(h[34:], 16)               // bits per sample
	copy(h[36:], "data")
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		return fmt.Errorf("write wav header %s: %w", path, err)
	}
	w.f, w.segBytes, w.diskBytes, w.hdrBytes, w.lastHeader = f, 0, 0, 0, now()
	return nil
}

// Write appends pcm. It does not keep pcm.
//
// hot path: no alloc (after the first call of a given frame size).
func (w *WAVWriter) Write(pcm []int16) error {
	if w.err != nil {
		return w.err
	}
	return w.writeBytes(s16le(pcm, &w.buf))
}

// littleEndian is whether int16s in memory are already the WAV's byte order.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// s16le is pcm as little-endian bytes: pcm's own memory on a little-endian
// host (no copy: this runs for every frame of every stream), else converted
// into *buf.
func s16le(pcm []int16, buf *[]byte) []byte {
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(pcm))), 2*len(pcm))
	}
	if n := 2 * len(pcm); cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:2*len(pcm)]
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// WriteSilence appends samples zero samples.
func (w *WAVWriter) WriteSilence(samples int64) error {
	if w.err != nil {
		return w.err
	}
	for left := 2 * samples; left > 0; {
		n := min(left, int64(len(zeroBlock)))
		if err := w.writeBytes(zeroBlock[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

// writeBytes appends whole samples, rolling over to the next file when the
// current one is full, and refreshes the header when it is due.
func (w *WAVWriter) writeBytes(p []byte) error {
	if w.f == nil {
		return ErrWriterClosed
	}
	limit := max(maxDataBytes&^1, 2)
	for len(p) > 0 {
		room := limit - w.segBytes
		if room <= 0 {
			if err := w.rollover(); err != nil {
				return w.fail(err)
			}
			continue
		}
		n := min(int64(len(p)), room, int64(cap(w.pending)-len(w.pending)))
		if n == 0 {
			if err := w.flush(); err != nil {
				return w.fail(err)
			}
			continue
		}
		w.pending = append(w.pending, p[:n]...)
		w.segBytes += n
		w.total += n / 2
		p = p[n:]
	}
	return w.refreshHeader()
}

// refreshHeader rewrites the header's sizes if PCM was written since they
// were last brought up to date and that was at least a second ago. Write
// calls it itself; a writer whose speaker went quiet needs a caller to call
// it, or the last second it wrote stays invisible to readers after a crash
// (FileSink does for every writer of a call, once per second of frames or
// events).
func (w *WAVWriter) refreshHeader() error {
	if w.err != nil {
		return w.err
	}
	if w.hdrBytes == w.segBytes || now().Sub(w.lastHeader) < headerEvery {
		return nil
	}
	if err := w.writeSizes(); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *WAVWriter) fail(err error) error {
	w.err = err
	return err
}

// pendingBytes is half a second of PCM: the writer makes two writes a second
// per file instead of fifty, and a crash loses no more than the header's
// one-second lag already allows. It is rounded up to whole samples: with an
// odd rate (11025 Hz) an odd buffer split samples, and Samples and the
// header lost count of them.
func pendingBytes(rate int) int { return (rate + 1) &^ 1 }

// flush writes the pending PCM to the file.
func (w *WAVWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	n, err := w.f.Write(w.pending)
	w.diskBytes += int64(n &^ 1) // whole samples only
	w.pending = w.pending[:0]
	if err != nil {
		return fmt.Errorf("write wav %s: %w", w.Path(), err)
	}
	return nil
}

// writeSizes flushes the pending PCM, then rewrites the RIFF and data sizes
// of the current file in place: a header never counts bytes not written.
func (w *WAVWriter) writeSizes() error {
	if err := w.flush(); err != nil {
		return err
	}
	// After a failed write the header counts what reached the file.
	binary.LittleEndian.PutUint32(w.sizes[:], uint32(w.diskBytes+wavHeaderSize-8))
	if _, err := w.f.WriteAt(w.sizes[:], 4); err != nil {
		return fmt.Errorf("update wav header %s: %w", w.Path(), err)
	}
	binary.LittleEndian.PutUint32(w.sizes[:], uint32(w.diskBytes))
	if _, err := w.f.WriteAt(w.sizes[:], 40); err != nil {
		return fmt.Errorf("update wav header %s: %w", w.Path(), err)
	}
	w.hdrBytes, w.lastHeader = w.segBytes, now()
	return nil
}

// finish writes the final header of the current file, fsyncs and closes it.
func (w *WAVWriter) finish() error {
	err := w.writeSizes()
	f := w.f
	w.f = nil
	if serr := f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync wav %s: %w", f.Name(), serr)
	}
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close wav %s: %w", f.Name(), cerr)
	}
	return err
}

func (w *WAVWriter) rollover() error {
	err := w.finish()
	w.seg++
	return errors.Join(err, w.open())
}

// Samples is the number of samples written so far across all files: the
// position of the next sample on the writer's clock.
func (w *WAVWriter) Samples() int64 { return w.total }

// Path is the path of the file being written now: the path given to
// CreateWAV (or Rename), or {base}.N.wav after a rollover.
func (w *WAVWriter) Path() string { return segmentPath(w.base, w.seg) }

// Rename moves every file of the recording (including finished rollover
// files) so that newPath is its first file; writing continues in place.
func (w *WAVWriter) Rename(newPath string) error {
	for seg := 1; seg <= w.seg; seg++ {
		if err := os.Rename(segmentPath(w.base, seg), segmentPath(newPath, seg)); err != nil {
			return fmt.Errorf("rename wav: %w", err)
		}
	}
	w.base = newPath
	return nil
}

// Close writes the final header, fsyncs and closes the file. It may be called
// after a write error; a second Close returns ErrWriterClosed.
func (w *WAVWriter) Close() error {
	if w.f == nil {
		return ErrWriterClosed
	}
	if w.err == nil {
		w.err = ErrWriterClosed
	}
	return w.finish()
}
