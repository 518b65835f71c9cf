package sink

import (
	"fmt"
	"os"
)

// maxOpusBytes is the most one Ogg Opus file of a recording holds before
// the next continues, as for WAVs: 4 GiB. Tests lower it.
var maxOpusBytes int64 = 4 << 30

// opusRecording is one participant's Opus packets in Ogg Opus files on the
// media clock: {base}, then {base without .opus}.2.opus, ... past
// maxOpusBytes, each continuing where the last one ended.
type opusRecording struct {
	base     string
	seg      int
	w        *OggOpusWriter
	comments []string
}

// createOpusRecording starts a recording whose first file is path.
func createOpusRecording(path string, comments ...string) (*opusRecording, error) {
	r := &opusRecording{base: path, seg: 1, comments: comments}
	w, err := NewOggOpusWriter(path, OggOpusOptions{MaxBytes: maxOpusBytes, Comments: comments})
	if err != nil {
		return nil, err
	}
	r.w = w
	return r, nil
}

// write adds a packet of the media clock's 48 kHz sample at, rolling over
// to the next file first when this one is full.
func (r *opusRecording) write(payload []byte, at int64) error {
	if r.w.Full() {
		if err := r.rollover(); err != nil {
			return err
		}
	}
	return r.w.WritePacket(payload, at)
}

func (r *opusRecording) rollover() error {
	start := r.w.Position()
	if err := r.w.Close(); err != nil {
		return err
	}
	r.seg++
	w, err := NewOggOpusWriter(segmentPath(r.base, r.seg), OggOpusOptions{MaxBytes: maxOpusBytes, Start: start, Comments: r.comments})
	if err != nil {
		return err
	}
	r.w = w
	return nil
}

// rename moves every file of the recording so that path is its first.
func (r *opusRecording) rename(path string) error {
	for seg := 1; seg < r.seg; seg++ {
		if err := os.Rename(segmentPath(r.base, seg), segmentPath(path, seg)); err != nil {
			return fmt.Errorf("rename opus: %w", err)
		}
	}
	if err := r.w.Rename(segmentPath(path, r.seg)); err != nil {
		return err
	}
	r.base = path
	return nil
}

// flush writes the page being filled: a participant gone quiet is then in
// the file up to its last packet, should the process die.
func (r *opusRecording) flush() error { return r.w.Flush() }

func (r *opusRecording) close() error { return r.w.Close() }
