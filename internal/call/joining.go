package call

import (
	"github.com/mediabot-dev/mediabot/signaling"
)

// joinFlow takes a policy-recording call's participantLeftNotification (a
// member of the policy group left: capacity is freed) and skips the joining
// notifications, which JoiningResponse answers. It reports whether n was
// one of them.
func (t *Table) joinFlow(n *signaling.CommsNotification, target signaling.Resource) bool {
	switch n.DataType() {
	case signaling.ODataParticipantJoiningNotification:
		return true
	case signaling.ODataParticipantLeftNotification:
		if c := t.Get(target.CallID); c != nil && c.members.Load() > 0 {
			c.members.Add(-1)
		}
		return true
	}
	return false
}

// JoiningResponse answers a participantJoiningNotification in the HTTP
// response: accept while the call records fewer than ParticipantCapacity
// participants (and accepting), else hand the join to HandoffURL as a new
// bot invitation when there is one, else reject it busy. It is nil for a
// batch without such a notification.
func (t *Table) JoiningResponse(batch *signaling.CommsNotifications, accepting bool) any {
	s := t.deps.Settings
	for i := range batch.Value {
		n := &batch.Value[i]
		if n.DataType() != signaling.ODataParticipantJoiningNotification {
			continue
		}
		var c *Call
		if target, err := n.Target(); err == nil {
			c = t.Get(target.CallID)
		}
		if c != nil && c.gate != nil && c.phase.Load() == live && c.members.Load() < int64(s.ParticipantCapacity) && accepting {
			c.members.Add(1)
			c.log.Info("policy-group join accepted", "members", c.members.Load())
			return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataAcceptJoinResponse}
		}
		if s.HandoffURL != "" {
			return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataInviteNewBotResponse, InviteURI: s.HandoffURL}
		}
		return signaling.ParticipantJoiningResponse{ODataType: signaling.ODataRejectJoinResponse, Reason: "busy"}
	}
	return nil
}
