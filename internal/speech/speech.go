// Package speech finds who speaks when: for each participant of each call,
// the stretches of time they speak, on the call's media clock (the
// MediaTimeMs of their frames), for diarization, talk time and RTTM files.
//
// It is an energy voice-activity detector. Each frame of a participant is
// given a loudness in dB below full scale:
//
//   - a frame that carries the sender's audio level (HasLevel, the RFC 6464
//     client-to-mixer header extension), decoded or not, is as loud as
//     that level says (-Level dBov): the sender measured it before
//     encoding, and it costs nothing here;
//   - a decoded frame without a level is as loud as the RMS of its PCM, in
//     dBFS (a full-scale square wave is 0 dBFS, digital silence -127);
//   - a packet frame (Payload, no PCM) without a level says nothing of how
//     loud it is: it counts as silence.
//
// A frame is speech when it is louder than both AbsoluteThresholdDB (-45:
// conversational speech reaches the bot at -35 to -15, comfort noise and a
// quiet room at -70 to -50) and the participant's noise floor plus
// MarginDB (12: well above how much steady noise varies from frame to
// frame, well below how far even soft speech stands above the room it is
// spoken in). The floor follows the participant's background: it starts at
// -60 (a quiet room), falls quickly to quieter frames (100 dB/s, so a quiet
// frame shows the background within a few frames, while one frame of
// digital silence moves it little), and rises slowly (3 dB/s) on frames
// that are not speech or whose loudness is steady, as noise is and speech
// is not (the mean change from one frame to the next under 1 dB). On other
// frames, speech, it creeps up at 0.3 dB/s only: talking does not raise
// the floor over itself, yet no noise counts as speech for ever. So a
// steady -40 dBFS fan that starts in a quiet room is speech for some 3 s,
// until the floor has risen to within 12 dB of it, and never again.
//
// A stretch starts once a participant has OnsetMs (40 ms, two frames) of
// consecutive speech, which ignores clicks; its start is the media time of
// the first of those frames, the edge itself, not when the detector became
// sure. It ends once the participant pauses longer than HangoverMs (300
// ms: longer than the gaps between words and most between phrases,
// shorter than a turn), and its end is the end of its last speech frame.
// The pause shows in a later frame (a quiet frame past the hangover, or a
// frame whose media time jumped past it: DTX, nothing was sent), in Tick
// when no frame came for the hangover (DTX with nothing sent at all), or
// in EndCall. Concealed frames (loss concealment: the decoder's guess, not
// the speaker) are neutral: they never start speech nor count towards an
// onset, and they neither extend nor, by themselves, end a stretch; only
// their place on the media clock counts.
//
// The start and end of a stretch are accurate to a frame (20 ms decoded,
// the packet's duration for packet frames) when the audio stands well above
// its background; a syllable that fades into loud background noise is cut
// where it drops under the threshold, and a speech onset that was lost and
// concealed starts at the first real frame. The package's tests measure
// 70 ms at worst (an onset concealed for 70 ms), under 20 ms otherwise
// but for 61 ms at an end over -40 dBFS noise.
//
// What is lost:
//   - Without decoded audio and without levels (packet frames of a sender
//     that does not send RFC 6464) nothing is detected: the participant
//     never speaks. Decode such streams, or ask senders for levels.
//   - Levels are the sender's, one per packet, to 1 dB; a sender that
//     measures after its own noise suppression, or not at all while muted,
//     shapes what is seen here. The level's voice-activity flag is not on
//     the frame and is not used.
//   - Energy cannot tell speech from other loud, unsteady sound: music,
//     typing, a second voice in the same room, echo of the others. It is
//     who makes sound when, as a first cut for diarization.
//   - Speech quieter than -45 dBFS, or less than 12 dB above the
//     background, is not speech.
//   - Speech that never once drops to its background creeps the floor up
//     at 0.3 dB/s: after a minute or so without a pause its quietest
//     syllables no longer count (real speech pauses every few seconds).
//   - A stream that stalls for longer than the hangover (network, a busy
//     drainer) has its stretch closed by Tick; when its frames come, a new
//     stretch starts. The times stay right; the stretch is split in two.
package speech

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/internal/monotime"
)

const (
	// AbsoluteThresholdDB is the loudness (dBFS, or dBov for levels) a
	// frame must exceed to be speech whatever the floor: above comfort
	// noise and a quiet room, below conversational speech.
	AbsoluteThresholdDB = -45.0
	// MarginDB is how far above the participant's noise floor a frame must
	// be to be speech.
	MarginDB = 12.0
	// OnsetMs is how much consecutive speech starts a stretch.
	OnsetMs = 40
	// HangoverMs is the longest pause that does not end a stretch.
	HangoverMs = 300
	// SilenceDB is the loudness of digital silence: the quietest RFC 6464
	// level, below the dBFS of one LSB (about -90 over a frame).
	SilenceDB = -127.0
)

// The floor's tracking, explained in the package doc.
const (
	floorStartDB   = -60.0 // a participant's floor before any frame: a quiet room
	floorMinDB     = -70.0 // the floor follows no quieter frame than this
	floorFallDBps  = 100.0 // towards a quieter frame
	floorRiseDBps  = 3.0   // towards a louder frame that is not speech, or is steady
	speechRiseDBps = 0.3   // towards a louder frame that is speech and unsteady
	steadyDB       = 1.0   // mean change from frame to frame under which loudness is steady
	steadyWeight   = 0.1   // weight of a frame in that mean: about ten frames
	gapToleranceMs = 5     // a frame starting this much after the previous one's end still follows it
)

// Edge is a stretch of speech starting or ending.
type Edge struct {
	// ParticipantID is who speaks.
	ParticipantID string
	// Started is true when the stretch starts, false when it ends. A
	// participant's edges come in order, a start before its end.
	Started bool
	// AtMs is the media time of the edge: the start of the stretch's
	// first speech frame, or the end of its last one.
	AtMs int64
	// DurationMs is the stretch's length, on its end only (end - start).
	DurationMs int64
}

// Detector finds stretches of speech per participant of every call. It is
// an audio.FrameConsumer fed on one goroutine (a drainer); its other
// methods may be called concurrently from other goroutines.
//
// Edges are handed to the onEdge given to New, from the goroutine of the
// Frame, Tick or EndCall that found them, in order, without the detector's
// lock: onEdge may call Speaking (which sees the state after the call that
// found the edge), but not Frame, Tick or EndCall. It holds up the frame
// drainer while it runs, so it must be quick.
type Detector struct {
	onEdge func(callID string, e Edge)
	now    func() time.Time // the clock of Tick and Levels; a test's own

	// emit serializes the calls that find edges, so that edges are
	// handed over in the order found; it is taken before mu.
	emit sync.Mutex
	out  []found // edges of the current call, under emit

	mu    sync.Mutex
	calls map[string]map[uint32]*talker // by call id, then audio source id
}

// found is an edge of a call, before it is handed over.
type found struct {
	callID string
	e      Edge
}

// maxHeldEdges bounds the edges kept for a source no roster names yet.
const maxHeldEdges = 64

// talker is the detector state of one audio source (a participant's SSRC,
// or the CSRC that names them when speakers rotate through sections).
type talker struct {
	// participantID is who the source is, "" until a frame names it;
	// until then its edges wait in held.
	participantID string
	held          []Edge

	floor  float64 // noise floor, dB
	steady float64 // mean change of loudness from frame to frame, dB
	prevDB float64 // the previous rated frame's loudness (not below floorMinDB)
	rated  bool    // prevDB is set

	heard   bool    // a frame came
	lastEnd int64   // media end of the last frame
	wall    int64   // monotime stamp of the last frame's coming
	lastDB  float64 // the last frame's loudness (SilenceDB when unknown)

	runStart int64 // media start of the current run of speech frames
	runMs    int64 // its speech; 0: no run

	open          bool  // in a stretch
	start         int64 // media start of the stretch
	lastSpeechEnd int64 // media end of its last speech frame
}

// New makes a detector that knows no call yet; onEdge (nil for none) is
// told of each stretch's start and end.
func New(onEdge func(callID string, e Edge)) *Detector {
	return &Detector{onEdge: onEdge, now: time.Now, calls: map[string]map[uint32]*talker{}}
}

// Frame takes a source's next frame: decoded (PCM) or a packet frame
// (Payload), concealed or not. A source's frames come in media-time order.
// The edges of a source no roster names yet (ParticipantID "") wait until a
// frame names it, then go out with their own times. A frame of a call
// after its EndCall starts the call afresh.
//
// Steady state: no alloc (entries are made on a source's first frame).
func (d *Detector) Frame(f *audio.Frame) {
	durMs := frameMs(f)
	db, known := loudness(f)
	wall := monotime.Of(d.now())
	start, end := f.MediaTimeMs, f.MediaTimeMs+durMs

	d.emit.Lock()
	defer d.emit.Unlock()
	d.mu.Lock()
	t := d.talker(f.CallID, f.SourceID())
	if f.ParticipantID != "" && t.participantID != f.ParticipantID {
		d.name(f.CallID, t, f.ParticipantID)
	}
	t.wall = wall
	t.lastDB = SilenceDB
	if known {
		t.lastDB = db
	}
	if t.heard && start > t.lastEnd+gapToleranceMs {
		t.runMs = 0 // frames missing (DTX): what came before is no run with this
	}
	t.heard, t.lastEnd = true, end

	speech := false
	switch {
	case f.Concealed: // neutral
	case !known:
		t.runMs = 0
	default:
		speech = t.rate(db, durMs)
		if !speech {
			t.runMs = 0
		} else {
			if t.runMs == 0 {
				t.runStart = start
			}
			t.runMs += durMs
		}
	}
	if t.open {
		// How far the pause since the last speech reaches: to this frame's
		// end, or to the start of a run of speech after it, not yet sure,
		// that may end it.
		paused := end
		if t.runMs > 0 && t.runStart >= t.lastSpeechEnd {
			paused = t.runStart
		}
		if paused-t.lastSpeechEnd > HangoverMs {
			d.close(f.CallID, t, t.lastSpeechEnd)
		}
	}
	if speech && t.runMs >= OnsetMs {
		if !t.open {
			t.open, t.start = true, t.runStart
			d.found(f.CallID, t, Edge{Started: true, AtMs: t.runStart})
		}
		t.lastSpeechEnd = end
	}
	d.mu.Unlock()
	d.deliver()
}

// StallMs is how long, in wall time, no frame may come from a source in a
// stretch before Tick ends the stretch: longer than the hangover, so that a
// stream held up on a busy machine (frames late, not missing) is not split;
// the end's time is the last speech frame's all the same.
const StallMs = 1000

// tickEvery is how often Run looks for stretches that ended in silence
// nobody sent: well inside the 100 ms an edge may be late by.
const tickEvery = 50 * time.Millisecond

// Run calls Tick every 50 ms until stop is closed.
func (d *Detector) Run(stop <-chan struct{}) {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			d.Tick(now)
		}
	}
}

// Tick closes the stretches of participants no frame came from for longer
// than StallMs (DTX with nothing sent, a muted microphone, a stream gone),
// at the end of their last speech frame. Run calls it every 50 ms.
func (d *Detector) Tick(now time.Time) {
	ns := monotime.Of(now)
	d.emit.Lock()
	defer d.emit.Unlock()
	d.mu.Lock()
	for callID, bySource := range d.calls {
		for _, t := range bySource {
			if t.open && ns-t.wall > StallMs*int64(time.Millisecond) {
				d.close(callID, t, t.lastSpeechEnd)
				t.runMs = 0 // frames after a stall start afresh
			}
		}
	}
	sortEnds(d.out)
	d.mu.Unlock()
	d.deliver()
}

// EndCall closes the call's open stretches at atMs (the call's end on its
// media clock), or at their last speech frame's end when that is earlier,
// and forgets the call. The edges of a source no roster ever named go out
// as participant "ssrc-{n}", as the file sink names its audio. Its edges
// are handed over when it returns. Call it once the call's streams have
// delivered their last frames, or a late frame brings the call back.
func (d *Detector) EndCall(callID string, atMs int64) {
	d.emit.Lock()
	defer d.emit.Unlock()
	d.mu.Lock()
	for src, t := range d.calls[callID] {
		if t.open {
			d.close(callID, t, min(atMs, t.lastSpeechEnd))
		}
		if t.participantID == "" && len(t.held) > 0 {
			d.name(callID, t, "ssrc-"+strconv.FormatUint(uint64(src), 10))
		}
	}
	delete(d.calls, callID)
	sortEnds(d.out)
	d.mu.Unlock()
	d.deliver()
}

// Speaking reports, for each participant of the call heard so far, whether
// they are in a stretch of speech now: true from a stretch's start edge to
// its end edge. Nil for a call not heard (or ended).
func (d *Detector) Speaking(callID string) map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	bySource := d.calls[callID]
	if bySource == nil {
		return nil
	}
	out := make(map[string]bool, len(bySource))
	for _, t := range bySource {
		if t.participantID != "" {
			out[t.participantID] = out[t.participantID] || t.open
		}
	}
	return out
}

// levelHold is how long a frame's loudness stands for its participant's
// level: after it (DTX, a muted microphone, a stalled stream) the level is
// silence.
const levelHold = 500 * time.Millisecond

// Levels reports, for each participant of the call heard so far, how loud
// their latest frame was (dB below full scale: the RMS of its audio, or the
// sender's RFC 6464 level), SilenceDB when none came in the last 500 ms of
// now or it said nothing; for a status page's level meters. Nil for a call
// not heard (or ended).
func (d *Detector) Levels(callID string, now time.Time) map[string]float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	bySource := d.calls[callID]
	if bySource == nil {
		return nil
	}
	out := make(map[string]float64, len(bySource))
	for _, t := range bySource {
		if t.participantID == "" {
			continue
		}
		db := SilenceDB
		if monotime.Of(now)-t.wall <= int64(levelHold) {
			db = t.lastDB
		}
		if prev, ok := out[t.participantID]; !ok || db > prev {
			out[t.participantID] = db
		}
	}
	return out
}

// talker returns the state of an audio source of a call, made on its
// first frame. Called with mu held.
func (d *Detector) talker(callID string, source uint32) *talker {
	bySource := d.calls[callID]
	if bySource == nil {
		bySource = map[uint32]*talker{}
		d.calls[callID] = bySource
	}
	t := bySource[source]
	if t == nil {
		t = &talker{floor: floorStartDB}
		bySource[source] = t
	}
	return t
}

// name gives t's source its participant id, handing over the edges it
// held until then. Called with emit and mu held.
func (d *Detector) name(callID string, t *talker, participantID string) {
	t.participantID = participantID
	for _, e := range t.held {
		d.found(callID, t, e)
	}
	t.held = nil
}

// found hands over an edge of t, or holds it while t's source has no
// participant id. Called with emit and mu held.
func (d *Detector) found(callID string, t *talker, e Edge) {
	if t.participantID == "" {
		if len(t.held) < maxHeldEdges {
			t.held = append(t.held, e)
		}
		return
	}
	e.ParticipantID = t.participantID
	d.out = append(d.out, found{callID, e})
}

// close ends t's stretch at endMs (never before its start). Called with
// emit and mu held.
func (d *Detector) close(callID string, t *talker, endMs int64) {
	endMs = max(endMs, t.start)
	t.open = false
	d.found(callID, t, Edge{AtMs: endMs, DurationMs: endMs - t.start})
}

// deliver hands the edges found to onEdge, with emit held and mu not.
func (d *Detector) deliver() {
	if len(d.out) == 0 {
		return
	}
	if d.onEdge != nil {
		for i := range d.out {
			d.onEdge(d.out[i].callID, d.out[i].e)
		}
	}
	clear(d.out)
	d.out = d.out[:0]
}

// sortEnds orders the ends a Tick or EndCall found (one per participant)
// by call, time and participant, rather than by map order.
func sortEnds(out []found) {
	slices.SortFunc(out, func(a, b found) int {
		return cmp.Or(cmp.Compare(a.callID, b.callID), cmp.Compare(a.e.AtMs, b.e.AtMs),
			cmp.Compare(a.e.ParticipantID, b.e.ParticipantID))
	})
}

// rate says whether a frame db loud is speech against t's floor, then
// moves the floor and the steadiness by the frame.
func (t *talker) rate(db float64, durMs int64) bool {
	speech := db > max(AbsoluteThresholdDB, t.floor+MarginDB)
	x := max(db, floorMinDB)
	if t.rated {
		t.steady += steadyWeight * (math.Abs(x-t.prevDB) - t.steady)
	}
	t.prevDB, t.rated = x, true
	dt := float64(durMs) / 1000
	switch {
	case x < t.floor:
		t.floor = max(x, t.floor-floorFallDBps*dt)
	case !speech || t.steady < steadyDB:
		t.floor = min(x, t.floor+floorRiseDBps*dt)
	default:
		t.floor = min(x, t.floor+speechRiseDBps*dt)
	}
	return speech
}

// loudness is how loud f is in dB below full scale: its RFC 6464 level
// when it has one, else the RMS of its PCM; known is false for a packet
// frame without a level.
func loudness(f *audio.Frame) (db float64, known bool) {
	switch {
	case f.HasLevel:
		return -float64(min(f.Level, 127)), true
	case f.PCM != nil:
		return PCMDBFS(f.PCM), true
	}
	return SilenceDB, false
}

// PCMDBFS is the RMS level of pcm in dBFS (a full-scale square wave is 0),
// SilenceDB for an empty or all-zero frame.
func PCMDBFS(pcm []int16) float64 {
	var s0, s1, s2, s3 int64 // four sums, not one chain of adds
	i := 0
	for ; i+4 <= len(pcm); i += 4 {
		p := pcm[i : i+4 : i+4]
		a, b, c, d := int64(p[0]), int64(p[1]), int64(p[2]), int64(p[3])
		s0, s1, s2, s3 = s0+a*a, s1+b*b, s2+c*c, s3+d*d
	}
	for ; i < len(pcm); i++ {
		v := int64(pcm[i])
		s0 += v * v
	}
	sum := s0 + s1 + s2 + s3
	if sum == 0 {
		return SilenceDB
	}
	rms := math.Sqrt(float64(sum)/float64(len(pcm))) / 32768
	return max(20*math.Log10(rms), SilenceDB)
}

// frameMs is how much media time f covers, in ms: its Duration, else its
// samples at its rate, else a frame's 20 ms.
func frameMs(f *audio.Frame) int64 {
	switch {
	case f.Duration > 0:
		return max(1, int64((f.Duration+time.Millisecond/2)/time.Millisecond))
	case len(f.PCM) > 0 && f.SampleRate > 0:
		return max(1, int64(len(f.PCM))*1000/int64(f.SampleRate))
	}
	return audio.FrameMs
}
