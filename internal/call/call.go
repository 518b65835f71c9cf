package call

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/monotime"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/sharing"
	"github.com/mediabot-dev/mediabot/signaling"
)

// queueLength bounds the items waiting for one call's worker; Graph sends
// a handful of notifications per second at most.
const queueLength = 256

// work is one item for a call's worker: a notification, or a function.
type work struct {
	n      *signaling.CommsNotification
	target signaling.Resource
	fn     func()
}

// The phases of a call on the bot's side.
const (
	live    int32 = iota
	closing       // the bot left; Graph's terminated is awaited
	ended
)

// Call is one call a bot holds. Its worker goroutine owns its state
// changes and its media session; the getters are safe from any goroutine.
type Call struct {
	t       *Table
	id      string
	tenant  string
	arrived time.Time
	log     *slog.Logger
	// inbox holds the items waiting for the worker; it is let go when the
	// worker ends, so that an ended call the table remembers keeps no
	// queue (queueLength items' worth of memory each).
	inbox atomic.Pointer[chan work]
	done  chan struct{}

	state atomic.Pointer[string] // Graph's state; written by the worker only
	phase atomic.Int32
	// result is how Graph said the call ended (nil until it does);
	// endReason is why the bot ended it itself, if it did.
	result    atomic.Pointer[event.ResultInfo]
	endReason atomic.Pointer[string]
	endedAt   atomic.Int64 // monotime stamp; 0 until ended
	// direction is "incoming", or "outgoing" for a call the bot placed.
	direction string
	// myParticipantID is the bot's own participant in the roster, when
	// Graph named it (placed calls): it shows whether a lobby holds the bot.
	myParticipantID string
	lobby           lobby
	session         *mediasession.Session
	roster          *roster
	ops             *operations
	sharing         *sharing.Tracker
	// rosterSeq is the last delta roster sequenceNumber applied (worker only).
	rosterSeq int64
	// gate is set for policy-recording calls: nothing is kept before Graph
	// confirms recording. recordingOp is the operation awaited (worker only).
	gate        *recordingGate
	recordingOp string
	// members is how many participants of the policy group this call
	// records: the invitation's, plus each join accepted, less each leave.
	members atomic.Int64

	mediaStart atomic.Int64 // monotime stamp of media connecting; 0 before
	// hasSession is set once the call has a media session (answered or
	// placed with app-hosted media): until media connects, it is one of
	// the calls connecting that admission counts.
	hasSession atomic.Bool
	// placeHeld is set while admission holds the call's place before its
	// media session exists (HoldPlace).
	placeHeld atomic.Bool
	packets   atomic.Uint64 // RTP packets read on all streams, for the media watchdog
	streams   sync.WaitGroup
	dropped   atomic.Uint64
	// Timers of the worker: the grace after a media loss, the bound of the
	// closing phase. Worker only.
	lossTimer, closeTimer *time.Timer
	// mediaReleased: the media session is closed and its streams have
	// delivered their last frames. Worker only.
	mediaReleased bool
}

// newCall makes the call's record; policy marks a policy-based recording
// invitation, whose gate is fixed before any goroutine reads it.
func newCall(t *Table, id, tenant string, arrived time.Time, policy bool) *Call {
	c := &Call{
		t: t, id: id, tenant: tenant, arrived: arrived,
		log:    t.deps.Log.With("call", id),
		done:   make(chan struct{}),
		roster: newRoster(), ops: newOperations(), direction: "incoming",
	}
	queue := make(chan work, queueLength)
	c.inbox.Store(&queue)
	incoming := "incoming"
	c.state.Store(&incoming)
	c.sharing = sharing.NewTracker(id, c.emit)
	if policy {
		c.gate = newRecordingGate()
		c.members.Store(1) // the participant whose invitation this is
	}
	return c
}

// ID is Graph's id of the call.
func (c *Call) ID() string { return c.id }

// TenantID is the call's tenant.
func (c *Call) TenantID() string { return c.tenant }

// State is the call's Graph state.
func (c *Call) State() string { return *c.state.Load() }

// Direction is "incoming" (answered) or "outgoing" (placed by the bot).
func (c *Call) Direction() string { return c.direction }

// InLobby reports whether a meeting's lobby holds the bot.
func (c *Call) InLobby() bool { return c.lobby.waiting.Load() }

// PolicyRecording reports whether the call is a policy-based recording
// invitation, answered inside Graph's shorter window.
func (c *Call) PolicyRecording() bool { return c.gate != nil }

// MediaStart is when the call's media connected, the origin of its media
// clock; zero before.
func (c *Call) MediaStart() time.Time {
	if start := c.mediaStart.Load(); start != 0 {
		return monotime.Time(start).UTC()
	}
	return time.Time{}
}

// MediaNow is the call's media clock now, in ms (0 before media connects).
func (c *Call) MediaNow() int64 {
	start := c.mediaStart.Load()
	if start == 0 {
		return 0
	}
	return (monotime.Now() - start) / int64(time.Millisecond)
}

// Closing reports whether the bot has left the call and awaits Graph's
// last word about it.
func (c *Call) Closing() bool { return c.phase.Load() == closing }

// Ended reports whether the call is over for this instance.
func (c *Call) Ended() bool { return c.phase.Load() == ended }

// Result is how Graph said the call ended; nil until it does.
func (c *Call) Result() *event.ResultInfo { return c.result.Load() }

// EndReason is why the bot ended the call itself, if it did.
func (c *Call) EndReason() string {
	if why := c.endReason.Load(); why != nil {
		return *why
	}
	return ""
}

// SharingActive is the number of the call's content-sharing sessions open
// now.
func (c *Call) SharingActive() int { return c.sharing.Active() }

// connecting reports whether the call has a media session (or its place
// held by admission) whose streams are not all counted yet: no packet so
// far, or media connected less than streamsSettle ago, while its
// participants' streams start one by one. Admission holds its streams'
// place until then; meanwhile the streams already up count twice, which
// errs on the safe side.
func (c *Call) connecting() bool {
	if !c.hasSession.Load() && !c.placeHeld.Load() || c.phase.Load() != live {
		return false
	}
	start := c.mediaStart.Load()
	return c.packets.Load() == 0 || start == 0 || time.Duration(monotime.Now()-start) < streamsSettle
}

// streamsSettle is how long after its media connects a call's streams are
// taken to be up: every participant who speaks has sent a packet by then.
const streamsSettle = time.Second

// HoldPlace counts the call among the calls connecting from the moment
// admission lets it in (held), before its media session exists, so that
// the calls judged after it see its streams coming; not held, it gives
// the place back (the policy did not answer it after all).
func (c *Call) HoldPlace(held bool) { c.placeHeld.Store(held) }

// enqueue hands the worker an item without blocking; a call that floods
// its queue loses the excess, counted.
func (c *Call) enqueue(w work) {
	queue := c.inbox.Load()
	if queue == nil {
		return // the worker has ended
	}
	select {
	case *queue <- w:
	case <-c.done:
	default:
		c.dropped.Add(1)
		c.log.Warn("call queue full: notification dropped")
	}
}

// run is the call's worker: it takes the call's items in order until the
// call has ended.
func (c *Call) run() {
	defer c.t.workers.Done()
	queue := *c.inbox.Load()
	defer c.inbox.Store(nil)
	idle := c.t.deps.Settings.MediaIdleTimeout
	watch := time.NewTicker(idle / 4)
	defer watch.Stop()
	var lastPackets uint64
	lastChange := time.Now()
	for c.phase.Load() != ended {
		select {
		case <-watch.C:
			// No packet on any stream for the bound while established: the
			// media leg is dead even if ICE has not noticed.
			if n := c.packets.Load(); n != lastPackets {
				lastPackets, lastChange = n, time.Now()
			} else if start := c.mediaStart.Load(); c.established() && start != 0 &&
				silentFor(time.Since(lastChange), time.Duration(monotime.Now()-start), idle) {
				c.mediaLost("no media packets for " + idle.String())
			}
		case w := <-queue:
			if w.fn != nil {
				w.fn()
			} else {
				c.handle(w)
			}
		case <-c.done:
			return
		}
	}
}

// silentFor reports whether media has been silent for idle: no packet
// counted for idle, and media connected for at least as long (the count
// last changed before media connected when the answer took a while, and
// the first packets come a moment after it connects).
func silentFor(sinceCount, sinceMedia, idle time.Duration) bool {
	return sinceCount >= idle && sinceMedia >= idle
}

// emit is the one way a call's events leave it: stamped with the media
// time now (unless set), then as emitAt.
func (c *Call) emit(e event.Event) {
	if e.MediaTimeMs == 0 {
		e.MediaTimeMs = c.MediaNow()
	}
	c.emitAt(e)
}

// emitAt sends e, whose media time is its own, stamped with the call's id
// and the wall time, through the recording gate, to the bot.
func (c *Call) emitAt(e event.Event) {
	e.CallID = c.id
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	to := Everyone
	if c.gate != nil {
		var held bool
		if to, held = c.gate.route(e); held {
			return
		}
	}
	c.t.deps.Bot.Publish(e, to)
}
