package call

import (
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// lobby follows whether a meeting holds the bot in its lobby: the roster
// shows the bot's own participant with isInLobby until someone admits it.
// The bot waits at most Config.LobbyTimeout, then leaves.
type lobby struct {
	waiting atomic.Bool // read by the status page and CallInfo
	since   time.Time   // worker only, as is timer
	timer   *time.Timer
}

// checkLobby looks for the bot's own participant in a roster update.
func (c *Call) checkLobby(parts []signaling.Participant) {
	if c.myParticipantID == "" {
		return
	}
	for _, p := range parts {
		if p.ID != c.myParticipantID {
			continue
		}
		switch {
		case p.IsInLobby && !c.lobby.waiting.Load():
			c.enterLobby()
		case !p.IsInLobby && c.lobby.waiting.Load():
			c.lobby.stop()
			c.lobby.waiting.Store(false)
			waited := time.Since(c.lobby.since).Round(time.Millisecond)
			c.log.Info("admitted from the lobby", "waited", waited)
			c.emit(event.Event{Type: event.CallLobby, State: "admitted", Reason: "waited " + waited.String()})
		}
	}
}

func (c *Call) enterLobby() {
	timeout := c.t.deps.Settings.LobbyTimeout
	c.lobby.waiting.Store(true)
	c.lobby.since = time.Now()
	c.log.Info("waiting in the meeting's lobby to be admitted", "for_at_most", timeout)
	c.emit(event.Event{Type: event.CallLobby, State: "waiting", Reason: "waiting to be admitted, at most " + timeout.String()})
	c.lobby.timer = time.AfterFunc(timeout, func() { c.enqueue(work{fn: c.lobbyExpired}) })
}

// lobbyExpired leaves a meeting that kept the bot in its lobby too long.
func (c *Call) lobbyExpired() {
	timeout := c.t.deps.Settings.LobbyTimeout
	if !c.lobby.waiting.Load() || time.Since(c.lobby.since) < timeout {
		return
	}
	reason := "not admitted from the lobby within " + timeout.String() + " (--lobby-timeout)"
	c.log.Warn("leaving the meeting", "why", reason)
	c.emit(event.Event{Type: event.CallLobby, State: "timedOut", Reason: reason})
	c.hangup(reason)
}

// stop cancels the lobby timer, if any.
func (l *lobby) stop() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}
