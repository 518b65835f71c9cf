package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
)

// FileSink writes each call to {dir}/{callId}/: one WAV per participant,
// {participantId}.wav (ssrc-{n}.wav while no roster names the stream, renamed
// once one does), or with RecordOpus one Ogg Opus file of the packets as
// received, {participantId}.opus (phone legs, which have no Opus, still a
// WAV); events.jsonl, one JSON event per line; and speakers.rttm, one NIST
// RTTM line per stretch of speech (the README's "Outputs" section).
//
// Every WAV of a call is on the call's media clock: a frame's first sample
// goes at sample index mediaTimeMs*rate/1000, after zeros if the file is
// behind that index; a frame that is late for its index is appended, never
// dropped.
//
// An I/O error stops the failing call's writes, is logged once and reported
// once as a sink.error event (see ErrorReporter); other calls keep going.
//
// FileSink is safe for concurrent use: frames of one call are serialized by
// a mutex per call.
type FileSink struct {
	Reporter
	dir    string
	rate   int
	opus   bool // Opus streams recorded as Ogg Opus, not decoded
	log    *slog.Logger
	errors atomic.Uint64

	retention retention // the StartRetention loop, if any

	mu     sync.RWMutex
	calls  map[string]*fileCall
	ended  map[string]struct{} // calls EndCall closed; grows by one id per call
	closed bool
}

var _ ErrorReporter = (*FileSink)(nil)

// fileCall is one call's outputs; mu guards all of it.
type fileCall struct {
	mu      sync.Mutex
	id      string
	dir     string
	rate    int
	opened  bool
	done    bool // ended or failed: ignore everything
	events  *os.File
	rttm    *os.File          // speakers.rttm, opened with the first stretch of speech
	byPID   map[string]*track // tracks named by participant id
	bySSRC  map[uint32]*track // tracks still named ssrc-{n}
	renamed map[uint32]*track // source id -> track it was renamed to
	line    []byte
	swept   time.Time // when every writer's header was last refreshed
}

// FileOption changes a FileSink at construction.
type FileOption func(*FileSink)

// RecordOpus records each participant's Opus packets as received, in an
// Ogg Opus file, {participantId}.opus, instead of decoding them to a WAV:
// no CPU spent decoding, a fifth of the storage of a 16 kHz WAV at the
// 52 kbit/s of graphsim's voices, less at the lower rates of VoIP. Phone legs (G.711)
// are still decoded to a WAV.
func RecordOpus() FileOption { return func(s *FileSink) { s.opus = true } }

// NewFileSink returns a sink writing under dir (created if missing) at
// sampleRate; each failing call is reported once (ReportErrorsTo). A nil
// logger means slog.Default().
func NewFileSink(dir string, sampleRate int, logger *slog.Logger, opts ...FileOption) (*FileSink, error) {
	if sampleRate <= 0 {
		return nil, fmt.Errorf("file sink: %w: %d", ErrSampleRate, sampleRate)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w %s: %w", ErrDirUnusable, dir, err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("file sink: %w %s: %w", ErrDirUnusable, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if logger == nil {
		logger = slog.Default()
	}
	s := &FileSink{
		dir:   dir,
		rate:  sampleRate,
		log:   logger,
		calls: make(map[string]*fileCall),
		ended: make(map[string]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// SampleRate is the rate of the WAVs the sink writes: the bot checks it
// against the rate it delivers.
func (s *FileSink) SampleRate() int { return s.rate }

// String prints the sink and its directory, e.g. "FILE(./recordings)", or
// "FILE(./recordings, opus)" when it records Opus as received.
func (s *FileSink) String() string {
	if s.opus {
		return "FILE(" + s.dir + ", opus)"
	}
	return "FILE(" + s.dir + ")"
}

// WantsPackets reports whether the sink takes a stream's packets as
// received: Opus streams, with RecordOpus.
func (s *FileSink) WantsPackets(mimeType string) bool {
	return s.opus && strings.EqualFold(mimeType, "audio/opus")
}

// Packet writes a packet frame to its participant's Ogg Opus file. It does
// not keep p or p.Payload.
func (s *FileSink) Packet(p *audio.Frame) { s.write(p, (*fileCall).packet) }

// Errors is the number of calls that failed (each reported once).
func (s *FileSink) Errors() uint64 { return s.errors.Load() }

// call returns the live call callID, creating it on first use, or nil if the
// call has ended or the sink is closed.
func (s *FileSink) call(callID string) *fileCall {
	s.mu.RLock()
	c := s.calls[callID]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if _, ended := s.ended[callID]; ended {
		return nil
	}
	if c = s.calls[callID]; c == nil {
		c = &fileCall{
			id:      callID,
			dir:     filepath.Join(s.dir, safeName(callID)),
			rate:    s.rate,
			byPID:   make(map[string]*track),
			bySSRC:  make(map[uint32]*track),
			renamed: make(map[uint32]*track),
		}
		s.calls[callID] = c
	}
	return c
}

// Frame writes f to its participant's WAV. It does not keep f or f.PCM.
func (s *FileSink) Frame(f *audio.Frame) { s.write(f, (*fileCall).frame) }

// write hands f to its call's method.
func (s *FileSink) write(f *audio.Frame, method func(*fileCall, *audio.Frame) error) {
	if f.CallID == "" {
		return
	}
	c := s.call(f.CallID)
	if c == nil {
		return
	}
	c.mu.Lock()
	err := method(c, f)
	c.mu.Unlock()
	s.report(c.id, err)
}

// Event appends e to its call's events.jsonl and applies what it says about
// the roster (a sourceId naming a participant renames ssrc-{n}.wav). Events
// without a call id are ignored.
func (s *FileSink) Event(e event.Event) {
	if e.CallID == "" {
		return
	}
	c := s.call(e.CallID)
	if c == nil {
		return
	}
	c.mu.Lock()
	err := c.event(&e)
	c.mu.Unlock()
	s.report(c.id, err)
}

// EndCall closes the call's WAVs (final headers, fsync) and events file;
// later frames and events of the call are ignored.
func (s *FileSink) EndCall(callID string) {
	s.mu.Lock()
	c := s.calls[callID]
	delete(s.calls, callID)
	s.ended[callID] = struct{}{}
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	err := c.end()
	c.mu.Unlock()
	s.report(callID, err)
}

// Close stops the retention loop and ends every call. Frames and events that
// arrive after it are ignored; a second Close returns ErrSinkClosed.
func (s *FileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSinkClosed
	}
	s.closed = true
	calls := s.calls
	s.calls = make(map[string]*fileCall)
	for id := range calls {
		s.ended[id] = struct{}{}
	}
	s.mu.Unlock()
	s.retention.stop() // after closed is set: StartRetention starts no more
	var errs []error
	for id, c := range calls {
		c.mu.Lock()
		err := c.end()
		c.mu.Unlock()
		s.report(id, err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// report logs and publishes a call's failure; err is non-nil only once per
// call. It runs without locks: the event may come back to the sink.
func (s *FileSink) report(callID string, err error) {
	if err == nil {
		return
	}
	s.errors.Add(1)
	s.log.Error("file sink: call output failed; its writes stop", "callId", callID, "err", err)
	s.Report(event.Event{
		Time:   now(),
		Type:   event.SinkError,
		CallID: callID,
		Sink:   "file",
		Error:  err.Error(),
	})
}

// RemoveOlderThan deletes the call folders under the sink's directory whose
// newest modification time (of the folder or any file in it) is older than
// age, skipping calls still being written. It is meant for a retention timer.
func (s *FileSink) RemoveOlderThan(age time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("retention %s: %w", s.dir, err)
	}
	s.mu.RLock()
	live := make(map[string]bool, len(s.calls))
	for _, c := range s.calls {
		live[filepath.Base(c.dir)] = true
	}
	s.mu.RUnlock()
	cutoff := now().Add(-age)
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || live[e.Name()] {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		newest, err := newestModTime(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !newest.Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("retention: %w", err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

func newestModTime(root string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if t := info.ModTime(); t.After(newest) {
			newest = t
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("retention: %w", err)
	}
	return newest, nil
}

// safeName makes an id usable as one path element: anything but letters,
// digits, '.', '-' and '_' becomes '_', and "", "." and ".." become "_".
// Graph's ids (GUIDs and the like) pass unchanged.
func safeName(id string) string {
	b := []byte(id)
	for i, ch := range b {
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '.' || ch == '-' || ch == '_'
		if !ok {
			b[i] = '_'
		}
	}
	if s := string(b); s != "" && s != "." && s != ".." {
		return s
	}
	return "_"
}

// The fileCall methods run with c.mu held. Each returns a non-nil error only
// the first time the call fails; the call is then done.

func (c *fileCall) open() error {
	if c.opened {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("call %s: %w", c.id, err)
	}
	f, err := os.OpenFile(filepath.Join(c.dir, "events.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("call %s: %w", c.id, err)
	}
	c.events, c.opened = f, true
	return nil
}

func (c *fileCall) frame(f *audio.Frame) error {
	if c.done {
		return nil
	}
	if f.SampleRate != 0 && f.SampleRate != c.rate {
		return c.fail(fmt.Errorf("call %s: %w: frame at %d Hz, sink at %d Hz", c.id, ErrSampleRate, f.SampleRate, c.rate))
	}
	t, err := c.track(f)
	if err != nil {
		return c.fail(err)
	}
	w, err := t.wavWriter(c)
	if err != nil {
		return c.fail(err)
	}
	if gap := f.MediaTimeMs*int64(c.rate)/1000 - w.Samples(); gap > 0 {
		if err := w.WriteSilence(gap); err != nil {
			return c.fail(fmt.Errorf("call %s: %w", c.id, err))
		}
	}
	if err := w.Write(f.PCM); err != nil {
		return c.fail(fmt.Errorf("call %s: %w", c.id, err))
	}
	return c.refreshHeaders()
}

// packet adds a packet frame to its participant's Ogg Opus recording, at
// its place on the media clock (48 kHz samples).
func (c *fileCall) packet(p *audio.Frame) error {
	if c.done {
		return nil
	}
	t, err := c.track(p)
	if err != nil {
		return c.fail(err)
	}
	r, err := t.opusRecording(c)
	if err != nil {
		return c.fail(err)
	}
	if err := r.write(p.Payload, p.MediaTimeMs*48); err != nil {
		if errors.Is(err, audio.ErrBadOpusPacket) || errors.Is(err, audio.ErrPacketTooLong) {
			return nil // one packet refused, the recording goes on (the stream counts decode errors)
		}
		return c.fail(fmt.Errorf("call %s: %w", c.id, err))
	}
	return c.refreshHeaders()
}

// refreshHeaders brings the header of every WAV of the call up to date once
// per second, and writes out what every Ogg Opus file holds, so that the
// file of a participant who went quiet while others talk also holds all but
// the last second after a crash. Its own writes only refresh the writer
// being written.
func (c *fileCall) refreshHeaders() error {
	t := now()
	if t.Sub(c.swept) < headerEvery {
		return nil
	}
	c.swept = t
	var err error
	for _, tr := range c.tracks() {
		err = errors.Join(err, tr.refresh())
	}
	if err != nil {
		return c.fail(fmt.Errorf("call %s: %w", c.id, err))
	}
	return nil
}

// tracks is every track of the call.
func (c *fileCall) tracks() []*track {
	out := make([]*track, 0, len(c.byPID)+len(c.bySSRC))
	for _, t := range c.byPID {
		out = append(out, t)
	}
	for _, t := range c.bySSRC {
		out = append(out, t)
	}
	return out
}

// track finds or makes the track of f's speaker, renaming ssrc-{n} to
// {participantId} when the frame names the participant first.
func (c *fileCall) track(f *audio.Frame) (*track, error) {
	src := f.SourceID()
	if f.ParticipantID == "" {
		if t := c.bySSRC[src]; t != nil {
			return t, nil
		}
		if t := c.renamed[src]; t != nil {
			return t, nil
		}
		t := &track{name: "ssrc-" + strconv.FormatUint(uint64(src), 10)}
		c.bySSRC[src] = t
		return t, nil
	}
	if t := c.byPID[f.ParticipantID]; t != nil {
		return t, nil
	}
	if c.bySSRC[src] != nil {
		err := c.rename(src, f.ParticipantID)
		return c.byPID[f.ParticipantID], err
	}
	t := &track{name: f.ParticipantID}
	c.byPID[f.ParticipantID] = t
	return t, nil
}

// rename names the track of source src, still ssrc-{src}, after pid, and
// moves the files it has.
func (c *fileCall) rename(src uint32, pid string) error {
	t := c.bySSRC[src]
	delete(c.bySSRC, src)
	c.renamed[src] = t
	c.byPID[pid] = t
	if err := t.rename(c.dir, pid); err != nil {
		return fmt.Errorf("call %s: %w", c.id, err)
	}
	return nil
}

func (c *fileCall) event(e *event.Event) error {
	if c.done {
		return nil
	}
	if err := c.open(); err != nil {
		return c.fail(err)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return c.fail(fmt.Errorf("call %s: encode event: %w", c.id, err))
	}
	c.line = append(append(c.line[:0], line...), '\n')
	if _, err := c.events.Write(c.line); err != nil {
		return c.fail(fmt.Errorf("call %s: write event: %w", c.id, err))
	}
	if e.Type == event.SpeechEnded && e.DurationMs != nil {
		if err := c.speakers(e); err != nil {
			return c.fail(err)
		}
	}
	if (e.Type == event.ParticipantJoined || e.Type == event.ParticipantUpdated) &&
		e.ParticipantID != "" && e.SourceID != "" {
		src, err := strconv.ParseUint(e.SourceID, 10, 32)
		if err == nil && c.bySSRC[uint32(src)] != nil && c.byPID[e.ParticipantID] == nil {
			if err := c.rename(uint32(src), e.ParticipantID); err != nil {
				return c.fail(err)
			}
		}
	}
	return c.refreshHeaders()
}

// speakers appends the stretch of speech that e ends to speakers.rttm: one
// NIST RTTM SPEAKER line, in one write, so that the file is whole after a
// crash but for the stretches still open.
func (c *fileCall) speakers(e *event.Event) error {
	if c.rttm == nil {
		f, err := os.OpenFile(filepath.Join(c.dir, "speakers.rttm"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("call %s: %w", c.id, err)
		}
		c.rttm = f
	}
	onset := e.MediaTimeMs - *e.DurationMs
	c.line = fmt.Appendf(c.line[:0], "SPEAKER %s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n",
		rttmToken(c.id), float64(onset)/1000, float64(*e.DurationMs)/1000, rttmToken(e.ParticipantID))
	if _, err := c.rttm.Write(c.line); err != nil {
		return fmt.Errorf("call %s: write speakers.rttm: %w", c.id, err)
	}
	return nil
}

// rttmToken is id as one RTTM field: fields are separated by white space.
func rttmToken(id string) string {
	if id == "" {
		return "<NA>"
	}
	return strings.Join(strings.Fields(id), "_")
}

// fail stops the call's writes, closing what it can, and returns err.
func (c *fileCall) fail(err error) error {
	c.closeAll()
	return err
}

// end closes the call's outputs; it reports an error only if the call had
// not already failed.
func (c *fileCall) end() error {
	if c.done {
		return nil
	}
	if err := c.closeAll(); err != nil {
		return fmt.Errorf("call %s: %w", c.id, err)
	}
	return nil
}

func (c *fileCall) closeAll() error {
	c.done = true
	var errs []error
	for _, t := range c.tracks() {
		errs = append(errs, t.close())
	}
	for name, f := range map[string]*os.File{"events": c.events, "speakers.rttm": c.rttm} {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", name, err))
		}
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", name, err))
		}
	}
	c.byPID, c.bySSRC, c.renamed, c.events, c.rttm = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
