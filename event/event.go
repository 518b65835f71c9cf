package event

import (
	"encoding/json"
	"time"
)

// Type names an event kind. The values are the `type` field of every
// events.jsonl line (the README's "Outputs" section).
type Type string

// The event kinds. More may be added; none are removed.
const (
	CallIncoming       Type = "call.incoming"
	CallPlaced         Type = "call.placed"
	CallLobby          Type = "call.lobby"
	CallState          Type = "call.state"
	ParticipantJoined  Type = "participant.joined"
	ParticipantUpdated Type = "participant.updated"
	ParticipantLeft    Type = "participant.left"
	StreamStarted      Type = "stream.started"
	StreamStats        Type = "stream.stats"
	SharingStarted     Type = "sharing.started"
	SharingEnded       Type = "sharing.ended"
	// SpeechStarted and SpeechEnded bound a participant's stretch of
	// speech; their mediaTimeMs is the edge itself, and SpeechEnded has
	// durationMs.
	SpeechStarted   Type = "speech.started"
	SpeechEnded     Type = "speech.ended"
	RecordingStatus Type = "recording.status"
	MediaFailed     Type = "media.failed"
	SinkError       Type = "sink.error"
	LoadState       Type = "load.state"
)

// Event is one thing that happened in a call, stamped with wall time and with
// the call's media clock (milliseconds since the call's media connected), the
// same clock frames carry. Only the fields of its Type are set; the JSON
// encoding leaves the others out.
type Event struct {
	Time        time.Time `json:"time"`
	Type        Type      `json:"type"`
	CallID      string    `json:"callId"`
	MediaTimeMs int64     `json:"mediaTimeMs"`

	// call.incoming, call.placed
	TenantID    string          `json:"tenantId,omitempty"`
	CallChainID string          `json:"callChainId,omitempty"`
	Source      json.RawMessage `json:"source,omitempty"`
	// SourceEncrypted: Graph sent the caller encrypted (the app lacks the
	// permission to read it); Source holds it as sent.
	SourceEncrypted bool            `json:"sourceEncrypted,omitempty"`
	MeetingInfo     json.RawMessage `json:"meetingInfo,omitempty"`
	Direction       string          `json:"direction,omitempty"`
	// call.placed: who the bot called (Graph's invitationParticipantInfo
	// array), unless it joined a meeting (MeetingInfo).
	Targets json.RawMessage `json:"targets,omitempty"`

	// call.state, call.lobby (waiting, admitted, timedOut), load.state
	State      string      `json:"state,omitempty"`
	ResultInfo *ResultInfo `json:"resultInfo,omitempty"`

	// participant.*, stream.*, sharing.*
	ParticipantID string    `json:"participantId,omitempty"`
	Identity      *Identity `json:"identity,omitempty"`
	SourceID      string    `json:"sourceId,omitempty"`
	IsMuted       *bool     `json:"isMuted,omitempty"`
	SSRC          uint32    `json:"ssrc,omitempty"`
	*StreamCounters

	// sharing.*; speech.ended (durationMs)
	SessionID    string `json:"sessionId,omitempty"`
	StartUnknown bool   `json:"startUnknown,omitempty"`
	DurationMs   *int64 `json:"durationMs,omitempty"`

	// recording.status
	Status string `json:"status,omitempty"`

	// media.failed, load.state, call.lobby
	Reason string `json:"reason,omitempty"`

	// sink.error
	Sink  string `json:"sink,omitempty"`
	Error string `json:"error,omitempty"`
}

// ResultInfo is why a call ended or an operation failed, as Graph reports it.
type ResultInfo struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message,omitempty"`
}

// StreamCounters are one remote audio stream's receive statistics, with the
// JSON keys of the README's "Outputs" section. JitterMs is the RFC 3550 interarrival jitter.
type StreamCounters struct {
	Packets       uint64 `json:"packets"`
	Lost          uint64 `json:"lost"`
	Late          uint64 `json:"late"`
	Duplicates    uint64 `json:"duplicates"`
	Reordered     uint64 `json:"reordered"`
	ConcealedFEC  uint64 `json:"concealedFec"`
	ConcealedPLC  uint64 `json:"concealedPlc"`
	DecodeErrors  uint64 `json:"decodeErrors"`
	RingOverflows uint64 `json:"ringOverflows"`
	// HoldDropped are frames a compliance recorder dropped because Graph
	// never confirmed recording (or the hold was full).
	HoldDropped uint64  `json:"holdDropped,omitempty"`
	JitterMs    float64 `json:"jitterMs"`
}

// Consumer receives events. Implementations must be safe for concurrent use
// and must not block for long: events come from signaling and media goroutines.
type Consumer interface {
	Event(e Event)
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(Event)

// Event calls f(e).
func (f ConsumerFunc) Event(e Event) { f(e) }
