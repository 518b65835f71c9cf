package call

import (
	"context"

	"github.com/mediabot-dev/mediabot/signaling"
)

// handle acts on one of the call's notifications.
func (c *Call) handle(w work) {
	n := w.n
	switch w.target.Kind {
	case signaling.ResourceCall:
		calls, err := n.Calls()
		if err != nil {
			c.log.Warn("call notification ignored", "err", err)
			return
		}
		for _, gc := range calls {
			if n.ChangeType == "created" && gc.State == "incoming" && c.State() == "incoming" && c.session == nil {
				c.onIncoming(gc)
				continue
			}
			c.setState(gc.State, gc.ResultInfo)
		}
		if n.ChangeType == "deleted" {
			c.finish()
		}
	case signaling.ResourceParticipants, signaling.ResourceParticipant:
		c.onRoster(n, w.target.Kind)
	case signaling.ResourceContentSharingSession:
		switch n.ChangeType {
		case "created":
			c.sharing.Created(w.target.SubID, c.MediaNow(), c.roster.currentPresenter())
		case "deleted":
			c.sharing.Deleted(w.target.SubID, c.MediaNow())
		}
	case signaling.ResourceOperation:
		if op, err := n.Operation(); err == nil && op != nil {
			c.log.Info("operation", "id", op.ID, "status", op.Status)
			c.operationDone(op)
			c.ops.finished(op)
		}
	default:
		c.t.deps.Metrics.NotificationsIgnored(1)
	}
}

// onRoster applies a roster notification, full or delta.
func (c *Call) onRoster(n *signaling.CommsNotification, kind signaling.ResourceKind) {
	parts, delta, err := n.Participants()
	if err != nil {
		c.log.Warn("roster notification ignored", "err", err)
		return
	}
	full := delta == nil && kind == signaling.ResourceParticipants
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
}

func (c *Call) applyRoster(parts []signaling.Participant, full bool) {
	c.checkLobby(parts)
	for _, e := range c.roster.apply(parts, full, c.MediaNow()) {
		c.emit(e)
	}
}

// rebuildRoster replaces the roster with Graph's current one after a delta
// roster notification was missed; notifications are handled meanwhile.
func (c *Call) rebuildRoster(seq int64) {
	c.log.Info("delta roster gap: rebuilding the roster", "sequenceNumber", seq)
	var parts []signaling.Participant
	var err error
	c.act(func(ctx context.Context) { parts, err = c.t.deps.Graph.ListParticipants(ctx, c.tenant, c.id) }, func() {
		if err != nil {
			c.log.Warn("roster rebuild failed", "err", err)
			return
		}
		c.applyRoster(parts, true)
	})
}
