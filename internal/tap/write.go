package tap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot/sink"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// write rebuilds the calls of the stream under o.WriteDir until it has been
// idle for o.Idle or ctx ends.
func write(ctx context.Context, msgs jetstream.MessagesContext, o Options) error {
	rb := &rebuild{dir: o.WriteDir, log: o.Logger, calls: map[string]*callFiles{}}
	last := time.Now()
	var err error
	for ctx.Err() == nil && time.Since(last) < o.Idle && rb.err == nil {
		var m jetstream.Msg
		if m, err = next(msgs); err != nil {
			break
		}
		if m != nil {
			last = time.Now()
			rb.take(m)
		}
	}
	err = errors.Join(err, rb.close())
	fmt.Fprintf(o.Out, "tap: %d frames and %d events of %d calls written under %s\n",
		rb.frames, rb.events, len(rb.calls), o.WriteDir)
	if rb.missingFrames > 0 || rb.missingEvents > 0 {
		fmt.Fprintf(o.Out, "tap: %d frames and %d events missing (gaps in Mediabot-Seq and the event numbers: dropped by the bot while NATS was unreachable, or discarded by the stream's limits); the audio after a gap is still placed on the media clock\n",
			rb.missingFrames, rb.missingEvents)
	}
	return err
}

// rebuild writes what the file sink writes, from the stream: per call a
// WAV per participant on the media clock, and events.jsonl.
type rebuild struct {
	dir            string
	log            *slog.Logger
	calls          map[string]*callFiles // by call token
	frames, events int
	// missingFrames and missingEvents are the gaps in the numbers.
	missingFrames, missingEvents uint64
	err                          error // the first I/O error; writing stops
}

// callFiles is one call's outputs.
type callFiles struct {
	dir    string
	tracks map[string]*track // by participant token
	events *os.File
	order  reorder[[]byte]
}

// track is one participant's WAV.
type track struct {
	w     *sink.WAVWriter
	rate  int
	order reorder[frame]
}

// frame is one audio message's content.
type frame struct {
	pcm     []byte // s16le
	mediaMs int64
	rate    int
}

// take files one message.
func (rb *rebuild) take(m jetstream.Msg) {
	if call, pid, ok := audioSubject(m.Subject()); ok {
		rb.audio(call, pid, m)
		return
	}
	if call, ok := eventSubject(m.Subject()); ok {
		rb.event(call, m)
		return
	}
	rb.log.Warn("tap: unexpected subject", "subject", m.Subject())
}

func (rb *rebuild) audio(call, pid string, m jetstream.Msg) {
	h := m.Headers()
	rate, err1 := strconv.Atoi(h.Get(natssink.HeaderSampleRate))
	seq, err2 := strconv.ParseUint(h.Get(natssink.HeaderSeq), 10, 64)
	media, err3 := strconv.ParseInt(h.Get(natssink.HeaderMediaTime), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || rate <= 0 || len(m.Data())%2 != 0 {
		rb.log.Warn("tap: malformed frame skipped", "subject", m.Subject(), "err", err)
		return
	}
	c := rb.call(call)
	if c == nil {
		return
	}
	t := c.tracks[pid]
	if t == nil {
		w, err := sink.CreateWAV(filepath.Join(c.dir, fileName(pid)+".wav"), rate)
		if err != nil {
			rb.fail(err)
			return
		}
		t = &track{w: w, rate: rate}
		c.tracks[pid] = t
	}
	t.order.push(seq, frame{pcm: m.Data(), mediaMs: media, rate: rate}, func(f frame) { rb.place(t, f) })
}

// place writes a frame at its media time, after silence if the WAV is
// behind it; a frame late for its place is appended (as the file sink does).
func (rb *rebuild) place(t *track, f frame) {
	if rb.err != nil {
		return
	}
	if f.rate != t.rate {
		rb.log.Warn("tap: frame at another sample rate skipped", "file", t.w.Path(), "rate", f.rate, "want", t.rate)
		return
	}
	if gap := f.mediaMs*int64(t.rate)/1000 - t.w.Samples(); gap > 0 {
		if err := t.w.WriteSilence(gap); err != nil {
			rb.fail(err)
			return
		}
	}
	pcm := make([]int16, len(f.pcm)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(f.pcm[2*i:]))
	}
	if err := t.w.Write(pcm); err != nil {
		rb.fail(err)
		return
	}
	rb.frames++
}

func (rb *rebuild) event(call string, m jetstream.Msg) {
	c := rb.call(call)
	if c == nil {
		return
	}
	emit := func(line []byte) { rb.writeEvent(c, line) }
	if n, ok := eventNumber(m.Headers().Get(natssink.HeaderMsgID)); ok {
		c.order.push(n, m.Data(), emit)
		return
	}
	emit(m.Data())
}

func (rb *rebuild) writeEvent(c *callFiles, line []byte) {
	if rb.err != nil {
		return
	}
	if c.events == nil {
		f, err := os.OpenFile(filepath.Join(c.dir, "events.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			rb.fail(err)
			return
		}
		c.events = f
	}
	if _, err := c.events.Write(append(line[:len(line):len(line)], '\n')); err != nil {
		rb.fail(err)
		return
	}
	rb.events++
}

// call returns the outputs of call token, creating its folder first.
func (rb *rebuild) call(token string) *callFiles {
	if c := rb.calls[token]; c != nil {
		return c
	}
	dir := filepath.Join(rb.dir, fileName(token))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		rb.fail(err)
		return nil
	}
	c := &callFiles{dir: dir, tracks: map[string]*track{}}
	rb.calls[token] = c
	return c
}

func (rb *rebuild) fail(err error) {
	if rb.err == nil {
		rb.err = fmt.Errorf("tap: %w", err)
	}
}

// close writes what still waits for a missing number and closes every file.
func (rb *rebuild) close() error {
	var errs []error
	for _, c := range rb.calls {
		for _, t := range c.tracks {
			t.order.flush(func(f frame) { rb.place(t, f) })
			rb.missingFrames += t.order.missing
			errs = append(errs, t.w.Close())
		}
		c.order.flush(func(line []byte) { rb.writeEvent(c, line) })
		rb.missingEvents += c.order.missing
		if c.events != nil {
			errs = append(errs, c.events.Close())
		}
	}
	return errors.Join(append(errs, rb.err)...)
}
