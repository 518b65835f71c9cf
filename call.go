package mediabot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/sharing"
	"github.com/mediabot-dev/mediabot/signaling"
)

// callQueue bounds the notifications waiting for one call's worker; Graph
// sends a handful per second at most.
const callQueue = 256

// work is one item for a call's worker: a notification, or a function.
type work struct {
	n      *signaling.CommsNotification
	target signaling.Resource
	fn     func()
}

// call is one call this instance holds. Its worker goroutine owns state and
// session; streams and the roster are read from media goroutines.
type call struct {
	bot     *Bot
	id      string
	tenant  string
	arrived time.Time
	log     *slog.Logger
	queue   chan work
	done    chan struct{}

	state atomic.Pointer[string] // written by the worker only
	// result is how Graph said the call ended (nil until it does);
	// endReason is why the bot ended it itself, if it did.
	result    atomic.Pointer[event.ResultInfo]
	endReason atomic.Pointer[string]
	// direction is "incoming", or "outgoing" for a call the bot placed.
	direction string
	// myParticipantID is the bot's own participant in the roster, when
	// Graph named it (placed calls): it shows whether a lobby holds the bot.
	myParticipantID string
	lobby           lobby
	session         *mediasession.Session
	roster          *roster
	ops             *operations
	// rosterSeq is the last delta roster sequenceNumber applied (worker only).
	rosterSeq int64
	// gate is set for policy-recording calls: nothing is kept before Graph
	// confirms recording. recordingOp is the operation awaited (worker only).
	gate        *recordingGate
	recordingOp string
	// members is how many participants of the policy group this call
	// records: the invitation's, plus each join accepted, less each leave.
	members atomic.Int64
	sharing *sharing.Tracker

	mediaStart atomic.Int64 // unix ns when media connected; 0 before
	// hasSession is set once the call has a media session (answered or
	// placed with app-hosted media): until media connects, it is one of
	// the calls connecting that admission counts.
	hasSession atomic.Bool
	ended      atomic.Bool
	packets    atomic.Uint64 // RTP packets read on all streams, for the media watchdog
	streams    sync.WaitGroup
	dropped    atomic.Uint64
}

// newCall makes the call's record; policy marks a policy-based recording
// invitation, whose gate is fixed before any goroutine reads it.
func newCall(b *Bot, id, tenant string, arrived time.Time, policy bool) *call {
	c := &call{
		bot: b, id: id, tenant: tenant, arrived: arrived,
		log:    b.log.With("call", id),
		queue:  make(chan work, callQueue),
		done:   make(chan struct{}),
		roster: newRoster(), ops: newOperations(), direction: "incoming",
	}
	incoming := "incoming"
	c.state.Store(&incoming)
	c.sharing = sharing.NewTracker(id, b.Event)
	if policy {
		c.gate = newRecordingGate()
		c.members.Store(1) // the participant whose invitation this is
	}
	return c
}

// currentState is the call's Graph state.
func (c *call) currentState() string { return *c.state.Load() }

// info describes the call for Bot.Calls.
func (c *call) info() CallInfo {
	ci := CallInfo{ID: c.id, TenantID: c.tenant, State: c.currentState(), Direction: c.direction,
		InLobby: c.lobby.waiting.Load(), Ended: c.ended.Load(), ResultInfo: c.result.Load()}
	if why := c.endReason.Load(); why != nil {
		ci.EndReason = *why
	}
	if start := c.mediaStart.Load(); start != 0 {
		ci.MediaStart = time.Unix(0, start).UTC()
	}
	return ci
}

// enqueue hands the worker an item without blocking; a call that floods
// its queue loses the excess, counted.
func (c *call) enqueue(w work) {
	select {
	case c.queue <- w:
	case <-c.done:
	default:
		c.dropped.Add(1)
		c.log.Warn("call queue full: notification dropped")
	}
}

// work runs the call's items in order until the call ends.
func (c *call) work() {
	defer c.bot.workers.Done()
	watch := time.NewTicker(c.bot.cfg.MediaIdleTimeout / 4)
	defer watch.Stop()
	var lastPackets uint64
	lastChange := time.Now()
	for {
		select {
		case <-watch.C:
			// No packet on any stream for the bound while established: the
			// media leg is dead even if ICE has not noticed.
			if n := c.packets.Load(); n != lastPackets {
				lastPackets, lastChange = n, time.Now()
			} else if c.currentState() == "established" && c.mediaStart.Load() != 0 && time.Since(lastChange) >= c.bot.cfg.MediaIdleTimeout {
				c.mediaFailed(fmt.Sprintf("no media packets for %s", c.bot.cfg.MediaIdleTimeout))
			}
			if c.ended.Load() {
				return
			}
		case w := <-c.queue:
			if w.fn != nil {
				w.fn()
			} else {
				c.handle(w)
			}
			if c.ended.Load() {
				return
			}
		case <-c.done:
			return
		}
	}
}

// mediaNow is the call's media clock now, in ms (0 before media connects).
func (c *call) mediaNow() int64 {
	start := c.mediaStart.Load()
	if start == 0 {
		return 0
	}
	return (time.Now().UnixNano() - start) / int64(time.Millisecond)
}

func (c *call) emit(e event.Event) {
	e.CallID = c.id
	if e.MediaTimeMs == 0 {
		e.MediaTimeMs = c.mediaNow()
	}
	if c.gate != nil && c.gate.keep(e) {
		return
	}
	c.bot.Event(e)
}

func (c *call) handle(w work) {
	n := w.n
	switch w.target.Kind {
	case signaling.ResourceCall:
		calls, err := n.Calls()
		if err != nil {
			c.log.Warn("call notification ignored", "err", err)
			return
		}
		for _, gc := range calls {
			if n.ChangeType == "created" && gc.State == "incoming" && c.currentState() == "incoming" && c.session == nil {
				c.onIncoming(gc)
				continue
			}
			c.setState(gc.State, gc.ResultInfo)
		}
		if n.ChangeType == "deleted" {
			c.setState("terminated", nil)
			c.end()
		}
	case signaling.ResourceParticipants, signaling.ResourceParticipant:
		parts, delta, err := n.Participants()
		if err != nil {
			c.log.Warn("roster notification ignored", "err", err)
			return
		}
		full := delta == nil && w.target.Kind == signaling.ResourceParticipants
		if delta != nil {
			switch seq := delta.SequenceNumber; {
			case c.rosterSeq != 0 && seq <= c.rosterSeq:
				return // stale or repeated
			case c.rosterSeq != 0 && seq != c.rosterSeq+1:
				c.rosterSeq = seq
				c.rebuildRoster(seq)
				return
			default:
				c.rosterSeq = seq
			}
			parts = delta.Participants
		}
		c.applyRoster(parts, full)
	case signaling.ResourceContentSharingSession:
		switch n.ChangeType {
		case "created":
			c.sharing.Created(w.target.SubID, c.mediaNow(), c.roster.currentPresenter())
		case "deleted":
			c.sharing.Deleted(w.target.SubID, c.mediaNow())
		}
	case signaling.ResourceOperation:
		if op, err := n.Operation(); err == nil && op != nil {
			c.log.Info("operation", "id", op.ID, "status", op.Status)
			c.operationDone(op)
			c.ops.finished(op)
		}
	default:
		c.bot.metrics.notificationsIgnored.Inc()
	}
}

func (c *call) applyRoster(parts []signaling.Participant, full bool) {
	c.checkLobby(parts)
	for _, e := range c.roster.apply(parts, full, c.id, c.mediaNow()) {
		c.emit(e)
	}
}

// rebuildRoster replaces the roster with Graph's current one after a delta
// roster notification was missed.
func (c *call) rebuildRoster(seq int64) {
	c.log.Info("delta roster gap: rebuilding the roster", "sequenceNumber", seq)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts, err := c.bot.graph.ListParticipants(ctx, c.tenant, c.id)
	if err != nil {
		c.log.Warn("roster rebuild failed", "err", err)
		return
	}
	c.applyRoster(parts, true)
}

// setState moves the call to a later state; a stale or repeated one is not
// an event.
func (c *call) setState(state string, ri *signaling.ResultInfo) {
	if state == "" || !advances(c.currentState(), state) {
		return
	}
	c.state.Store(&state)
	e := event.Event{Type: event.CallState, State: state}
	if ri != nil {
		e.ResultInfo = &event.ResultInfo{Code: int(ri.Code), Subcode: int(ri.Subcode), Message: ri.Message}
		c.result.Store(e.ResultInfo)
		c.log.Info("call state", "state", state, "code", ri.Code, "subcode", ri.Subcode, "message", ri.Message)
	} else {
		c.log.Info("call state", "state", state)
	}
	c.emit(e)
}

// onIncoming decides on the call and answers or rejects it inside the
// window, measured from the notification's arrival.
func (c *call) onIncoming(gc signaling.Call) {
	window := c.bot.cfg.AnswerWindow
	if c.gate != nil {
		window = c.bot.cfg.PolicyRecordingWindow
	}
	c.emitIncoming(gc)
	ctx, cancel := context.WithDeadline(context.Background(), c.arrived.Add(window))
	defer cancel()
	if c.bot.draining.Load() {
		c.reject(ctx, "busy")
		return
	}
	load := c.bot.admission() // this call, without a media session yet, is the new one
	d := c.bot.policy(IncomingCall{Call: gc, TenantID: c.tenant, LiveCalls: c.bot.liveCount() - 1, Load: load})
	var err error
	switch d.Action {
	case Reject:
		if load.Level == LoadOverloaded {
			c.log.Warn("incoming call refused: overloaded", "reason", load.Reason)
		}
		c.reject(ctx, d.Reason)
		return
	case Redirect:
		c.redirect(ctx, d.Targets)
		return
	case AnswerServiceHosted:
		err = c.postAnswer(ctx, signaling.MediaConfig{ODataType: signaling.ODataServiceHostedMediaConfig, PreFetchMedia: d.PreFetchMedia})
	default:
		err = c.answer(ctx)
	}
	if err != nil {
		c.log.Error("answer failed", "err", err)
		c.end()
		return
	}
	took := time.Since(c.arrived)
	c.bot.metrics.answerSeconds.Observe(took.Seconds())
	c.log.Info("answered", "time_to_answer", took.Round(time.Millisecond))
}

func (c *call) emitIncoming(gc signaling.Call) {
	e := event.Event{Type: event.CallIncoming, TenantID: c.tenant, CallChainID: gc.CallChainID,
		MeetingInfo: gc.MeetingInfo, Direction: gc.Direction}
	if gc.Source != nil {
		if raw, err := gc.Source.MarshalJSON(); err == nil {
			e.Source = raw // kept as Graph sent it, encrypted or not
		}
		// Without one of the permissions that decrypt it, Graph sends the
		// caller encrypted: the call goes on, flagged.
		e.SourceEncrypted = gc.Source.Encrypted != ""
	}
	c.emit(e)
}

// redirect sends the call on; Graph ends it for this bot.
func (c *call) redirect(ctx context.Context, targets []signaling.InvitationParticipantInfo) {
	if err := c.bot.graph.Redirect(ctx, c.tenant, c.id, signaling.RedirectRequest{Targets: targets, CallbackURI: c.bot.CallbackURI()}); err != nil {
		c.log.Error("redirect failed", "err", err)
	} else {
		c.log.Info("redirected", "targets", len(targets))
	}
	c.end()
}

func (c *call) reject(ctx context.Context, reason string) {
	if reason == "" {
		reason = "none"
	}
	if err := c.bot.graph.Reject(ctx, c.tenant, c.id, signaling.RejectRequest{Reason: reason}); err != nil {
		c.log.Error("reject failed", "err", err)
	} else {
		c.log.Info("rejected", "reason", reason)
	}
	c.end()
}

func (c *call) answer(ctx context.Context) error {
	cfg := c.bot.cfg
	sess, err := c.bot.engine.NewSession(c.bot.sessionConfig(c.id, cfg.AnswerWindow+cfg.MediaConnectTimeout, func() *call { return c }))
	if err != nil {
		return err
	}
	c.session = sess
	c.hasSession.Store(true)
	blob, err := sess.Blob().Encode()
	if err != nil {
		return err
	}
	return c.postAnswer(ctx, signaling.MediaConfig{ODataType: signaling.ODataAppHostedMediaConfig, Blob: blob})
}

// sessionConfig is the media session of call callID, whose blob answer is
// taken for answerTimeout. Its callbacks act on the call of which: a call
// the bot places is known only once Graph has created it.
func (b *Bot) sessionConfig(callID string, answerTimeout time.Duration, which func() *call) mediasession.SessionConfig {
	cfg := b.cfg
	return mediasession.SessionConfig{
		CallID:         callID,
		AudioSections:  cfg.AudioSections,
		AnswerURI:      func(id string) string { return cfg.PublicURL + "/media/sessions/" + id + "/answer" },
		AnswerTimeout:  answerTimeout,
		ConnectTimeout: cfg.MediaConnectTimeout,
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
				c.enqueue(work{fn: func() { c.mediaFailed(reason) }})
			}
		},
	}
}

// postAnswer POSTs the answer with this instance's callbackUri and options.
func (c *call) postAnswer(ctx context.Context, media signaling.MediaConfig) error {
	capacity := 0
	if c.gate != nil {
		capacity = c.bot.cfg.ParticipantCapacity
	}
	return c.bot.graph.Answer(ctx, c.tenant, c.id, signaling.AnswerRequest{
		ParticipantCapacity: capacity,
		CallbackURI:         c.bot.CallbackURI(),
		AcceptedModalities:  []string{"audio"},
		CallOptions: &signaling.CallOptions{
			ODataType:                           signaling.ODataIncomingCallOptions,
			IsContentSharingNotificationEnabled: c.bot.cfg.SharingNotifications,
			IsDeltaRosterEnabled:                c.bot.cfg.DeltaRoster,
		},
		MediaConfig: media,
	})
}

func (c *call) onConnected(at time.Time) {
	c.mediaStart.CompareAndSwap(0, at.UnixNano())
	c.log.Info("media connected")
	if c.gate != nil {
		c.enqueue(work{fn: c.startRecording})
	}
}

// holdFunc is the streams' gate: nil (no hold) unless this is a
// policy-recording call.
func (c *call) holdFunc() func() bool {
	if c.gate == nil {
		return nil
	}
	return c.gate.isOpen
}

// onTrack makes the decoder of one remote audio stream, with a ring per
// consumer that the consumers' drainers empty. It runs on the media
// socket's reader with the stream's first packet.
func (c *call) onTrack(tr *mediasession.Track) mediasession.PacketHandler {
	if c.ended.Load() {
		return nil
	}
	c.mediaStart.CompareAndSwap(0, time.Now().UnixNano())
	rings := make([]*audio.Ring, len(c.bot.drainers))
	for i := range rings {
		rings[i] = c.bot.drainerRings[i].ring(c.bot.cfg.SampleRate * audio.FrameMs / 1000)
	}
	log := c.log.With("ssrc", tr.SSRC)
	st, err := audio.NewStream(audio.StreamConfig{
		CallID: c.id, SSRC: tr.SSRC, MimeType: tr.MimeType, ClockRate: tr.ClockRate,
		SampleRate:  c.bot.cfg.SampleRate,
		MediaStart:  time.Unix(0, c.mediaStart.Load()),
		Participant: c.roster.participant,
		Rings:       rings,
		Hold:        c.holdFunc(),
		HoldFrames:  holdSeconds * 1000 / audio.FrameMs,
		OnOverflow: func() {
			log.Warn("a frame consumer is slower than real time: frames dropped (counted in ringOverflows)")
		},
	})
	if err != nil {
		log.Warn("stream not decoded", "err", err)
		return nil
	}
	for i, d := range c.bot.drainers {
		d.Add(rings[i])
	}
	c.emit(event.Event{Type: event.StreamStarted, SSRC: tr.SSRC, ParticipantID: c.roster.name(tr.SSRC)})
	c.bot.metrics.streamsActive.Inc()
	c.bot.streams.Add(1)
	c.streams.Add(1)
	return &streamHandler{c: c, st: st, rings: rings, ssrc: tr.SSRC}
}

// streamHandler feeds one remote stream's packets to its decoder and, at
// the session's end, flushes it and reports its counters.
type streamHandler struct {
	c     *call
	st    *audio.Stream
	rings []*audio.Ring
	ssrc  uint32
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
	for i, d := range c.bot.drainers {
		d.Remove(h.rings[i]) // returns once the last frames were delivered
	}
	stats := h.st.Stats()
	overflows := map[string]uint64{}
	for i, r := range h.rings {
		overflows[c.bot.drainerNames[i]] += r.Overflows()
	}
	c.bot.metrics.streamEnded(&stats, overflows)
	c.bot.streams.Add(-1)
	c.emit(event.Event{Type: event.StreamStats, SSRC: h.ssrc, ParticipantID: c.roster.name(h.ssrc), StreamCounters: &stats})
}

// mediaFailed ends a call whose media never connected or broke: Graph is
// told to drop the bot's leg so no dead call lingers.
func (c *call) mediaFailed(reason string) {
	if c.ended.Load() {
		return
	}
	c.log.Warn("media failed", "reason", reason)
	c.emit(event.Event{Type: event.MediaFailed, Reason: reason})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.hangup(ctx, reason)
}

// hangup asks Graph to drop the bot's leg and ends the call here.
func (c *call) hangup(ctx context.Context, why string) {
	if c.ended.Load() {
		return
	}
	c.endReason.Store(&why)
	if err := c.bot.graph.Hangup(ctx, c.tenant, c.id); err != nil && !errors.Is(err, signaling.ErrCallGone) {
		c.log.Warn("hang-up failed", "err", err)
	}
	c.log.Info("hung up", "why", why)
	c.end()
}

func (c *call) keepAlive(ctx context.Context) {
	err := c.bot.graph.KeepAlive(ctx, c.tenant, c.id)
	switch {
	case errors.Is(err, signaling.ErrCallGone):
		c.log.Info("keepAlive: Graph no longer knows the call; ending it")
		c.setState("terminated", nil)
		c.end()
	case err != nil:
		c.log.Warn("keepAlive failed", "err", err)
	}
}

// end releases the call once: sharing sessions close, the media session
// closes (its streams report their stats), and the sinks close the call.
func (c *call) end() {
	if c.ended.Swap(true) {
		return
	}
	c.sharing.EndCall(c.mediaNow())
	if c.session != nil {
		_ = c.session.Close()
	}
	c.streams.Wait()
	if c.gate != nil && !c.gate.isOpen() {
		c.log.Warn("call ended before Graph confirmed recording: its audio and events were not kept", "events_dropped", c.gate.discard())
	}
	c.bot.endMix(c.id)
	for _, s := range c.bot.sinks {
		s.EndCall(c.id)
	}
	c.bot.levels.endCall(c.id)
	c.lobby.stop()
	c.lobby.waiting.Store(false)
	c.bot.forget(c)
	close(c.done)
}
