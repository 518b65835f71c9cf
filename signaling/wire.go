package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// OData type names Graph puts in "@odata.type". Graph sends them on some
// objects and not others, so decoders must not require them; encoders set
// them where Graph's own examples do.
const (
	ODataCommsNotifications        = "#microsoft.graph.commsNotifications"
	ODataCommsNotification         = "#microsoft.graph.commsNotification"
	ODataCall                      = "#microsoft.graph.call"
	ODataParticipant               = "#microsoft.graph.participant"
	ODataParticipantInfo           = "#microsoft.graph.participantInfo"
	ODataInvitationParticipantInfo = "#microsoft.graph.invitationParticipantInfo"
	ODataIdentitySet               = "#microsoft.graph.identitySet"
	ODataIdentity                  = "#microsoft.graph.identity"
	ODataMediaStream               = "#microsoft.graph.mediaStream"
	ODataDeltaParticipants         = "#microsoft.graph.deltaParticipants"
	ODataContentSharingSession     = "#microsoft.graph.contentSharingSession"
	ODataIncomingContext           = "#microsoft.graph.incomingContext"
	ODataTokenMeetingInfo          = "#microsoft.graph.tokenMeetingInfo"
	ODataAppHostedMediaConfig      = "#microsoft.graph.appHostedMediaConfig"
	ODataServiceHostedMediaConfig  = "#microsoft.graph.serviceHostedMediaConfig"
	ODataIncomingCallOptions       = "#microsoft.graph.incomingCallOptions"
	ODataOutgoingCallOptions       = "#microsoft.graph.outgoingCallOptions"
	ODataChatInfo                  = "#microsoft.graph.chatInfo"
	ODataOrganizerMeetingInfo      = "#microsoft.graph.organizerMeetingInfo"
	ODataJoinMeetingIDMeetingInfo  = "#microsoft.graph.joinMeetingIdMeetingInfo"
	ODataCommsOperation            = "#microsoft.graph.commsOperation"

	ODataInviteParticipantsOperation    = "#microsoft.graph.inviteParticipantsOperation"
	ODataUpdateRecordingStatusOperation = "#microsoft.graph.updateRecordingStatusOperation"
)

// CommsNotifications is the body of every callback POST Graph makes to the
// bot: a batch of notifications that must be handled in order.
type CommsNotifications struct {
	ODataType string              `json:"@odata.type,omitempty"`
	Value     []CommsNotification `json:"value"`
}

// CommsNotification is one change to one resource. ChangeType is "created",
// "updated" or "deleted". ResourceURL is the /communications path; Resource is
// the deprecated /app path that some notifications still carry beside it.
// ResourceData is left raw because its shape depends on the resource (a call,
// a participant array, a deltaParticipants, an operation, or nothing); decode
// it with Calls, Participants or Operation.
type CommsNotification struct {
	ODataType    string          `json:"@odata.type,omitempty"`
	ChangeType   string          `json:"changeType"`
	Resource     string          `json:"resource,omitempty"`
	ResourceURL  string          `json:"resourceUrl,omitempty"`
	ResourceData json.RawMessage `json:"resourceData,omitempty"`
}

// Call is Graph's call resource. Update notifications carry only the fields
// that changed (often just State), so every field is optional and a zero value
// means "not sent", not "cleared". MeetingInfo and ApplicationMetadata stay
// raw: their shapes vary (tokenMeetingInfo, organizerMeetingInfo, the policy
// recording botData) and the bot passes them through rather than acting on
// them.
type Call struct {
	ODataType           string                      `json:"@odata.type,omitempty"`
	ODataID             string                      `json:"@odata.id,omitempty"`
	ODataEtag           string                      `json:"@odata.etag,omitempty"`
	ID                  string                      `json:"id,omitempty"`
	State               string                      `json:"state,omitempty"`
	Direction           string                      `json:"direction,omitempty"`
	CallbackURI         string                      `json:"callbackUri,omitempty"`
	TenantID            string                      `json:"tenantId,omitempty"`
	MyParticipantID     string                      `json:"myParticipantId,omitempty"`
	CallChainID         string                      `json:"callChainId,omitempty"`
	Source              *ParticipantInfo            `json:"source,omitempty"`
	Targets             []InvitationParticipantInfo `json:"targets,omitempty"`
	RequestedModalities []string                    `json:"requestedModalities,omitempty"`
	CallRoutes          []CallRoute                 `json:"callRoutes,omitempty"`
	MeetingInfo         json.RawMessage             `json:"meetingInfo,omitempty"`
	ChatInfo            *ChatInfo                   `json:"chatInfo,omitempty"`
	IncomingContext     *IncomingContext            `json:"incomingContext,omitempty"`
	ApplicationMetadata json.RawMessage             `json:"applicationMetadata,omitempty"`
	ResultInfo          *ResultInfo                 `json:"resultInfo,omitempty"`
}

// ParticipantInfo describes a call's source or a participant. When the app
// lacks the permissions that let Graph decrypt the caller, Graph sends the
// source as an opaque string instead of an object; that string is kept in
// Encrypted (and every other field is empty) and is marshaled back unchanged.
type ParticipantInfo struct {
	ODataType    string       `json:"@odata.type,omitempty"`
	ID           string       `json:"id,omitempty"`
	Identity     *IdentitySet `json:"identity,omitempty"`
	EndpointType string       `json:"endpointType,omitempty"`
	Region       string       `json:"region,omitempty"`
	LanguageID   string       `json:"languageId,omitempty"`
	Encrypted    string       `json:"-"`
}

// participantInfoFields has ParticipantInfo's fields without its methods, so
// the custom codecs can reuse the default encoding without recursing.
type participantInfoFields ParticipantInfo

// UnmarshalJSON accepts either the participantInfo object or the encrypted
// string form.
func (p *ParticipantInfo) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = ParticipantInfo{Encrypted: s}
		return nil
	}
	return json.Unmarshal(b, (*participantInfoFields)(p))
}

// MarshalJSON writes the encrypted string when Encrypted is set, the object
// otherwise.
func (p ParticipantInfo) MarshalJSON() ([]byte, error) {
	if p.Encrypted != "" {
		return json.Marshal(p.Encrypted)
	}
	return json.Marshal(participantInfoFields(p))
}

// InvitationParticipantInfo is a call target. Graph sends "region":null and
// "languageId":null for bots; they decode as empty strings. ReplacesCallID
// names the call a consultative transfer replaces.
type InvitationParticipantInfo struct {
	ODataType      string       `json:"@odata.type,omitempty"`
	ID             string       `json:"id,omitempty"`
	Identity       *IdentitySet `json:"identity,omitempty"`
	EndpointType   string       `json:"endpointType,omitempty"`
	Region         string       `json:"region,omitempty"`
	LanguageID     string       `json:"languageId,omitempty"`
	ReplacesCallID string       `json:"replacesCallId,omitempty"`
}

// IdentitySet names who a party is; usually exactly one member is set.
type IdentitySet struct {
	ODataType           string    `json:"@odata.type,omitempty"`
	User                *Identity `json:"user,omitempty"`
	Application         *Identity `json:"application,omitempty"`
	ApplicationInstance *Identity `json:"applicationInstance,omitempty"`
	Phone               *Identity `json:"phone,omitempty"`
	Guest               *Identity `json:"guest,omitempty"`
	Device              *Identity `json:"device,omitempty"`
}

// Identity is one member of an IdentitySet. TenantID and IdentityProvider
// are only sent for some identity kinds.
type Identity struct {
	ODataType        string `json:"@odata.type,omitempty"`
	ID               string `json:"id,omitempty"`
	DisplayName      string `json:"displayName,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IdentityProvider string `json:"identityProvider,omitempty"`
}

// CallRoute records how an incoming call was routed (e.g. a phone number
// looked up to a user).
type CallRoute struct {
	RoutingType string       `json:"routingType,omitempty"`
	Original    *IdentitySet `json:"original,omitempty"`
	Final       *IdentitySet `json:"final,omitempty"`
}

// ChatInfo locates a meeting's chat thread; Graph sends it for group calls.
type ChatInfo struct {
	ODataType           string `json:"@odata.type,omitempty"`
	ThreadID            string `json:"threadId,omitempty"`
	MessageID           string `json:"messageId,omitempty"`
	ReplyChainMessageID string `json:"replyChainMessageId,omitempty"`
}

// IncomingContext is sent on policy-recording calls: it names the participant
// under policy (ObservedParticipantID) on whose behalf the bot is invited.
type IncomingContext struct {
	ODataType             string       `json:"@odata.type,omitempty"`
	SourceParticipantID   string       `json:"sourceParticipantId,omitempty"`
	ObservedParticipantID string       `json:"observedParticipantId,omitempty"`
	OnBehalfOf            *IdentitySet `json:"onBehalfOf,omitempty"`
	Transferor            *IdentitySet `json:"transferor,omitempty"`
}

// Participant is one member of a call's roster. IsMuted and IsInLobby are
// always encoded because false is meaningful. RemovedState is set when the
// participant has left (delta rosters report departures that way).
type Participant struct {
	ODataType            string           `json:"@odata.type,omitempty"`
	ID                   string           `json:"id,omitempty"`
	Info                 *ParticipantInfo `json:"info,omitempty"`
	MediaStreams         []MediaStream    `json:"mediaStreams,omitempty"`
	IsMuted              bool             `json:"isMuted"`
	IsInLobby            bool             `json:"isInLobby"`
	Metadata             string           `json:"metadata,omitempty"`
	RemovedState         *RemovedState    `json:"removedState,omitempty"`
	RosterSequenceNumber int64            `json:"rosterSequenceNumber,omitempty"`
}

// RemovedState says why a participant left.
type RemovedState struct {
	Reason string `json:"reason,omitempty"`
}

// MediaStream is one stream a participant sends or receives. MediaType is
// audio, video, videoBasedScreenSharing or data; Direction is inactive,
// sendOnly, receiveOnly or sendReceive. SourceID is the MSI that media
// frames carry, which is how the media side maps audio to a participant.
type MediaStream struct {
	ODataType   string `json:"@odata.type,omitempty"`
	MediaType   string `json:"mediaType,omitempty"`
	Label       string `json:"label,omitempty"`
	SourceID    string `json:"sourceId,omitempty"`
	Direction   string `json:"direction,omitempty"`
	ServerMuted bool   `json:"serverMuted"`
}

// DeltaParticipants is the roster notification sent when the bot answered
// with isDeltaRosterEnabled: only the participants that changed, ordered by
// SequenceNumber across notifications.
type DeltaParticipants struct {
	ODataType      string        `json:"@odata.type,omitempty"`
	SequenceNumber int64         `json:"sequenceNumber"`
	Participants   []Participant `json:"participants"`
}

// ContentSharingSession is a screen or content share in a call; in v1.0 it
// carries only its id, which notifications put in the resourceUrl instead.
type ContentSharingSession struct {
	ODataType string `json:"@odata.type,omitempty"`
	ID        string `json:"id,omitempty"`
}

// ResultInfo says how an operation or a call ended (e.g. 200/5001 for a
// normal hang-up).
type ResultInfo struct {
	Code    Int32OrString `json:"code,omitempty"`
	Subcode Int32OrString `json:"subcode,omitempty"`
	Message string        `json:"message,omitempty"`
}

// Int32OrString is an Int32 Graph field that Graph's own examples sometimes
// send as a string ("200"). It decodes a number, a numeric string or null
// (leaving the value unchanged), and always encodes as a number.
type Int32OrString int32

// UnmarshalJSON accepts 200, "200" and null.
func (n *Int32OrString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return fmt.Errorf("int32 field: %q is not a 32-bit integer", s)
	}
	*n = Int32OrString(v)
	return nil
}

// CommsOperation is the resourceData of an operation notification; Graph
// sends subtypes (inviteParticipantsOperation, updateRecordingStatusOperation,
// ...) that all share these fields. Status is notStarted, running, completed
// or failed; completed and failed are final.
type CommsOperation struct {
	ODataType     string      `json:"@odata.type,omitempty"`
	ID            string      `json:"id,omitempty"`
	Status        string      `json:"status,omitempty"`
	ClientContext string      `json:"clientContext,omitempty"`
	ResultInfo    *ResultInfo `json:"resultInfo,omitempty"`
}

// AnswerRequest is the body of POST /communications/calls/{id}/answer.
// AcceptedModalities and MediaConfig are required by Graph, so they are
// always encoded.
type AnswerRequest struct {
	CallbackURI         string       `json:"callbackUri,omitempty"`
	AcceptedModalities  []string     `json:"acceptedModalities"`
	CallOptions         *CallOptions `json:"callOptions,omitempty"`
	MediaConfig         MediaConfig  `json:"mediaConfig"`
	ParticipantCapacity int          `json:"participantCapacity,omitempty"`
}

// CallOptions turns on optional notifications: ODataType is
// ODataIncomingCallOptions in an answer, ODataOutgoingCallOptions when the
// bot places the call.
type CallOptions struct {
	ODataType                           string `json:"@odata.type,omitempty"`
	IsContentSharingNotificationEnabled bool   `json:"isContentSharingNotificationEnabled,omitempty"`
	IsDeltaRosterEnabled                bool   `json:"isDeltaRosterEnabled,omitempty"`
	IsInteractiveRosterEnabled          bool   `json:"isInteractiveRosterEnabled,omitempty"`
}

// MediaConfig is either an appHostedMediaConfig (ODataType
// ODataAppHostedMediaConfig, Blob from the media platform) or a
// serviceHostedMediaConfig (ODataServiceHostedMediaConfig, optional
// PreFetchMedia). ODataType is required: Graph picks the media mode by it.
type MediaConfig struct {
	ODataType     string      `json:"@odata.type"`
	Blob          string      `json:"blob,omitempty"`
	PreFetchMedia []MediaInfo `json:"preFetchMedia,omitempty"`
}

// MediaInfo is a prompt Graph should fetch before it is played.
type MediaInfo struct {
	URI        string `json:"uri"`
	ResourceID string `json:"resourceId"`
}

// RejectRequest is the body of POST /communications/calls/{id}/reject.
// Reason is none, busy or forbidden.
type RejectRequest struct {
	Reason      string `json:"reason"`
	CallbackURI string `json:"callbackUri,omitempty"`
}

// RedirectRequest is the body of POST /communications/calls/{id}/redirect,
// which hands an incoming call to other targets instead of answering it.
// More than one target rings them all at once (up to 25). Timeout is in
// seconds, 15 to 90; 0 leaves Graph's default (55 s for one target, 60 s
// for several).
type RedirectRequest struct {
	Targets     []InvitationParticipantInfo `json:"targets"`
	Timeout     int                         `json:"timeout,omitempty"`
	CallbackURI string                      `json:"callbackUri,omitempty"`
}

// TransferRequest is the body of POST /communications/calls/{id}/transfer.
// Transferee, when set, is the participant being transferred (in a group
// call); nil transfers the caller of a peer-to-peer call.
type TransferRequest struct {
	TransferTarget InvitationParticipantInfo `json:"transferTarget"`
	Transferee     *ParticipantInfo          `json:"transferee,omitempty"`
}

// InviteParticipantsRequest is the body of POST
// /communications/calls/{id}/participants/invite. ClientContext comes back
// on the inviteParticipantsOperation and its notifications.
type InviteParticipantsRequest struct {
	Participants  []InvitationParticipantInfo `json:"participants"`
	ClientContext string                      `json:"clientContext,omitempty"`
}

// UpdateRecordingStatusRequest is the body of POST
// /communications/calls/{id}/updateRecordingStatus. Status is
// notRecording, recording or failed; ClientContext is at most 256
// characters.
type UpdateRecordingStatusRequest struct {
	ClientContext string `json:"clientContext"`
	Status        string `json:"status"`
}

// ParticipantsPage is one page of GET /communications/calls/{id}/participants;
// NextLink, when set, is the absolute URL of the next page.
type ParticipantsPage struct {
	Value    []Participant `json:"value"`
	NextLink string        `json:"@odata.nextLink,omitempty"`
}

// GraphError is the body of a Graph error response.
type GraphError struct {
	Error GraphErrorBody `json:"error"`
}

// GraphErrorBody holds the error code and message; InnerError carries the
// request ids to quote when asking Microsoft about a failure.
type GraphErrorBody struct {
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	InnerError *GraphInnerError `json:"innerError,omitempty"`
}

// GraphInnerError is the diagnostic part of a Graph error.
type GraphInnerError struct {
	RequestID       string `json:"request-id,omitempty"`
	ClientRequestID string `json:"client-request-id,omitempty"`
	Date            string `json:"date,omitempty"`
}
