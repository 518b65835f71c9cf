package signaling

import (
	"encoding/json"
)

// The policy-recording join flow. After an answer with participantCapacity,
// later joins of the same policy group come as participantJoiningNotification
// and are answered in the HTTP response body with a participantJoiningResponse;
// leaves come as participantLeftNotification. Microsoft publishes the
// resources (participantJoiningNotification, acceptJoinResponse,
// rejectJoinResponse, inviteNewBotResponse, participantLeftNotification)
// but no example of them on the wire: the shapes below follow those resource
// pages, are kept in this one file, and are this project's reading.
const (
	ODataParticipantJoiningNotification = "#microsoft.graph.participantJoiningNotification"
	ODataParticipantLeftNotification    = "#microsoft.graph.participantLeftNotification"
	ODataAcceptJoinResponse             = "#microsoft.graph.acceptJoinResponse"
	ODataRejectJoinResponse             = "#microsoft.graph.rejectJoinResponse"
	ODataInviteNewBotResponse           = "#microsoft.graph.inviteNewBotResponse"
)

// ParticipantJoiningResponse is the body answering a joining notification:
// accept, reject (Reason none, busy or forbidden) or invite another bot
// instance (InviteURI, where Graph then sends the join as an incoming call).
type ParticipantJoiningResponse struct {
	ODataType string `json:"@odata.type"`
	Reason    string `json:"reason,omitempty"`
	InviteURI string `json:"inviteUri,omitempty"`
}

// ParticipantLeftNotification says a participant of the policy group left.
type ParticipantLeftNotification struct {
	ODataType     string `json:"@odata.type,omitempty"`
	ParticipantID string `json:"participantId,omitempty"`
}

// DataType is the @odata.type of the notification's resourceData when it
// is one object, "" otherwise.
func (n *CommsNotification) DataType() string {
	var head struct {
		ODataType string `json:"@odata.type"`
	}
	if len(n.ResourceData) == 0 || n.ResourceData[0] != '{' || json.Unmarshal(n.ResourceData, &head) != nil {
		return ""
	}
	return head.ODataType
}
