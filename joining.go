package mediabot

import (
	"github.com/mediabot-dev/mediabot/signaling"
)

// joinFlow takes a policy-recording call's participantLeftNotification (a
// member of the policy group left: capacity is freed) and skips the joining
// notifications, which joiningResponse answers. It reports whether n was
// one of them.
func (b *Bot) joinFlow(n *signaling.CommsNotification, target signaling.Resource) bool {
	switch n.DataType() {
	case signaling.ODataParticipantJoiningNotification:
		return true
	case signaling.ODataParticipantLeftNotification:
		b.mu.Lock()
		c := b.calls[target.CallID]
		b.mu.Unlock()
		if c != nil && c.members.Load() > 0 {
			c.members.Add(-1)
		}
		return true
	}
	return false
}

// joiningResponse answers a participantJoiningNotification in the HTTP
// response: accept while the call records fewer than --participant-capacity
// participants, else hand the join to --handoff-url as a new bot
// invitation when there is one, else reject it busy.
func (b *Bot) joiningResponse(batch *signaling.CommsNotifications) any {
	for i := range batch.Value {
		n := &batch.Value[i]
		if n.DataType() != signaling.ODataParticipantJoiningNotification {
			continue
		}
		var c *call
		if target, err := n.Target(); err == nil {
			b.mu.Lock()
			c = b.calls[target.CallID]
			b.mu.Unlock()
		}
		if c != nil && c.gate != nil && c.members.Load() < int64(b.cfg.ParticipantCapacity) && !b.draining.Load() {
			c.members.Add(1)
			c.log.Info("policy-group join accepted", "members", c.members.Load())
			return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataAcceptJoinResponse}
		}
		if b.cfg.HandoffURL != "" {
			return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataInviteNewBotResponse, InviteURI: b.cfg.HandoffURL}
		}
		return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataRejectJoinResponse, Reason: "busy"}
	}
	return nil
}
