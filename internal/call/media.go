package call

import (
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/fanout"
	"github.com/mediabot-dev/mediabot/internal/monotime"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// sessionConfig is the media session of call callID, whose blob answer is
// taken for answerTimeout. Its callbacks act on the call of which: a call
// the bot places is known only once Graph has created it.
func (t *Table) sessionConfig(callID string, answerTimeout time.Duration, which func() *Call) mediasession.SessionConfig {
	s := t.deps.Settings
	return mediasession.SessionConfig{
		CallID:         callID,
		AudioSections:  s.AudioSections,
		AnswerURI:      s.AnswerURI,
		AnswerTimeout:  answerTimeout,
		ConnectTimeout: s.MediaConnectTimeout,
		OnTrack: func(tr *mediasession.Track) mediasession.PacketHandler {
			if c := which(); c != nil {
				return c.onTrack(tr)
			}
			return nil
		},
		OnConnected: func(at time.Time) {
			if c := which(); c != nil {
				c.onConnected(at)
			}
		},
		OnFailed: func(reason string) {
			if c := which(); c != nil {
				c.enqueue(work{fn: func() { c.mediaLost(reason) }})
			}
		},
	}
}

func (c *Call) onConnected(at time.Time) {
	c.mediaStart.CompareAndSwap(0, monotime.Of(at))
	c.log.Info("media connected")
	if c.gate != nil {
		c.enqueue(work{fn: c.startRecording})
	}
}

// onTrack makes the decoder of one remote audio stream, writing into a ring
// per consumer. It runs on the media socket's reader with the stream's
// first packet.
func (c *Call) onTrack(tr *mediasession.Track) mediasession.PacketHandler {
	if c.phase.Load() != live {
		return nil
	}
	c.mediaStart.CompareAndSwap(0, monotime.Now())
	out := c.t.deps.Fanout.NewOutlet(tr.MimeType)
	log := c.log.With("ssrc", tr.SSRC)
	st, err := audio.NewStream(audio.StreamConfig{
		CallID: c.id, SSRC: tr.SSRC, MimeType: tr.MimeType, ClockRate: tr.ClockRate,
		SampleRate:   c.t.deps.Settings.SampleRate,
		MediaStart:   monotime.Time(c.mediaStart.Load()),
		Participant:  c.roster.participant,
		Rings:        out.Rings(),
		PacketRings:  out.PacketRings(),
		AudioLevelID: tr.AudioLevelID,
		Hold:         c.holdFunc(),
		HoldFrames:   HoldSeconds * 1000 / audio.FrameMs,
		OnOverflow: func() {
			log.Warn("a frame consumer is slower than real time: frames dropped (counted in ringOverflows)")
		},
	})
	if err != nil {
		log.Warn("stream not decoded", "err", err)
		return nil
	}
	out.Attach()
	c.emit(event.Event{Type: event.StreamStarted, SSRC: tr.SSRC, ParticipantID: c.roster.name(tr.SSRC)})
	c.t.deps.Metrics.StreamStarted()
	c.streams.Add(1)
	return &streamHandler{c: c, st: st, out: out, ssrc: tr.SSRC}
}

// streamHandler feeds one remote stream's packets to its decoder and, at
// the session's end, flushes it and reports its counters.
type streamHandler struct {
	c    *Call
	st   *audio.Stream
	out  *fanout.Outlet
	ssrc uint32
}

// Push decodes one packet; the count feeds the call's media watchdog.
//
// hot path: no alloc, no lock.
func (h *streamHandler) Push(b []byte, arrival time.Time) {
	h.c.packets.Add(1)
	h.st.Push(b, arrival)
}

// Flush delivers what the stream still holds and reports its counters: the
// stream has ended.
func (h *streamHandler) Flush() {
	c := h.c
	defer c.streams.Done()
	h.st.Flush()
	overflows := h.out.Detach() // returns once the last frames were delivered
	stats := h.st.Stats()
	c.t.deps.Metrics.StreamEnded(&stats, overflows)
	c.emit(event.Event{Type: event.StreamStats, SSRC: h.ssrc, ParticipantID: c.roster.name(h.ssrc), StreamCounters: &stats})
}

// Speech emits an edge of a participant's stretch of speech, at its own
// media time: started, or ended after durationMs.
func (c *Call) Speech(participantID string, started bool, atMs, durationMs int64) {
	e := event.Event{Type: event.SpeechStarted, ParticipantID: participantID, MediaTimeMs: atMs}
	if !started {
		e.Type, e.DurationMs = event.SpeechEnded, &durationMs
	}
	c.emitAt(e)
}
