package graphsim

import (
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Scenario is one call graphsim plays against a bot (PlayCall), or, in a
// Callee, how a call the bot places goes once it is up. Tests and embedders
// build it as a Go value; the zero value of each field is a sane default.
type Scenario struct {
	// BotURL is the bot's global notification URL, e.g.
	// http://127.0.0.1:9440/api/calls. Later notifications go to the
	// callbackUri of the bot's answer, as Graph does.
	BotURL string
	// CallID names the call; "" makes a GUID.
	CallID string
	// Participants speak, each on its own audio section.
	Participants []Participant
	// Duration is how long the call lasts once media flows; 0 is 10 s.
	Duration time.Duration
	// EstablishedFirst sends "established" before "establishing", as Graph
	// may (the docs say they can arrive out of order).
	EstablishedFirst bool
	// Shares are content-sharing sessions, sent to calls whose answer asked
	// for content-sharing notifications.
	Shares []Share
	// AnswerWindow is how long graphsim waits for an answer before it ends
	// the call as Graph does; 0 is 15 s.
	AnswerWindow time.Duration
	// RosterAfter delays the roster until this long after media flows
	// (0: at once), so that audio arrives before anyone names it.
	RosterAfter time.Duration
	// Duplicate sends every notification after the incoming call twice.
	Duplicate bool
	// PolicyRecording makes the call a policy-based recording invitation,
	// shaped like Graph's (incomingContext, meetingInfo with a join token,
	// applicationMetadata.botData), with Graph's 5 s answer window unless
	// AnswerWindow says otherwise.
	PolicyRecording bool
	// Source is the caller; nil is the first participant as a Teams user.
	Source *signaling.ParticipantInfo
	// MediaClosesFirst, at the call's normal end, has the media processor
	// close its connection (DTLS close_notify) this long before Graph
	// notifies terminating and terminated, as Teams may.
	MediaClosesFirst time.Duration
	// MediaVanishesAt, when set, has the media processor vanish this long
	// after media flows, as a crashed or cut-off host does: its packets
	// stop and its sockets close, with no DTLS close_notify and no RTCP
	// BYE, and Graph says nothing of it. The call goes on in Graph until
	// the bot hangs up or Duration ends.
	MediaVanishesAt time.Duration
}

// Participant is one simulated call member.
type Participant struct {
	// ID is the participant id in the roster; "" makes a GUID.
	ID string
	// DisplayName and UserID identify a Teams user; UserID "" makes a GUID.
	DisplayName, UserID string
	// Phone, when set, makes the participant a phone (PSTN) caller with this
	// E.164 number, e.g. "+14255550123": the roster names it by its number
	// (identity phone, not user) and its audio is sent as G.711 µ-law.
	Phone string
	// Voice is what the participant says.
	Voice Voice
	// JoinAt is when the participant joins, after media connects: rosters
	// list it from then on, and it speaks from then on.
	JoinAt time.Duration
	// LeaveAt, when set, is when the participant leaves: its audio stops
	// and rosters no longer list it.
	LeaveAt time.Duration
	// Talk, when set, limits speech to these spans (after media connects);
	// between them nothing is sent, as with DTX: RTP timestamps jump while
	// sequence numbers stay consecutive (unless SilenceBetween).
	Talk []Span
	// AudioLevels puts the RFC 6464 client-to-mixer audio level header
	// extension on every packet sent for the participant (one-byte form,
	// RFC 8285, at the id negotiated on its section): the level of that
	// 20 ms frame in -dBov, measured on the PCM graphsim encoded (0 the
	// loudest, 127 silence), with the V bit set on the frames of its voice
	// that are not silent and clear on the packets of silence
	// (SilenceBetween), which carry 127. When the bot's offer does not map
	// the extension, the packets carry none.
	AudioLevels bool
	// SilenceBetween makes the participant send encoded digital silence
	// every 20 ms whenever it is in the call and not talking (before its
	// first Talk span, between spans, after the last one until it leaves
	// or the call ends), as a client without DTX does: real packets in its
	// codec, made by the same encoder settings (for Opus, a few dozen
	// bytes), with sequence numbers and RTP timestamps continuous across
	// the pauses and no marker bit where talk resumes. They count in
	// CallResult.PacketsSent. It applies on a section of the participant's
	// own only: when there are more participants than sections and
	// speakers rotate through them, only talkers are sent (Teams forwards
	// the loudest speakers), and SilenceBetween has no effect.
	SilenceBetween bool
}

// Span is a stretch of the call, from Start to End after media connects.
type Span struct{ Start, End time.Duration }

// present reports whether p is in the call at elapsed.
func (p *Participant) present(elapsed time.Duration) bool {
	return elapsed >= p.JoinAt && (p.LeaveAt == 0 || elapsed < p.LeaveAt)
}

// arrivesOrLeaves reports whether p joins or leaves at the frame that
// starts at elapsed (the first roster, at 0, lists who is there already).
func (p *Participant) arrivesOrLeaves(elapsed time.Duration) bool {
	return elapsed > 0 && (elapsed == p.JoinAt.Truncate(frameDur) || elapsed == p.LeaveAt.Truncate(frameDur))
}

// talking reports whether p speaks at elapsed.
func (p *Participant) talking(elapsed time.Duration) bool {
	if !p.present(elapsed) {
		return false
	}
	if len(p.Talk) == 0 {
		return true
	}
	for _, s := range p.Talk {
		if elapsed >= s.Start && elapsed < s.End {
			return true
		}
	}
	return false
}

// Share is one content-sharing session during the call, presented by
// Participants[Presenter].
type Share struct {
	// Start and End are after media connects; a Start below 0 is a share
	// already on when the bot answers, notified before media connects.
	Start, End time.Duration
	Presenter  int
}

// CallResult is what graphsim saw of a call it played (PlacedResult
// embeds it for the calls the bot places).
type CallResult struct {
	CallID string
	// AnswerLatency is from the incoming notification to the bot's answer.
	AnswerLatency time.Duration
	// Answer is the bot's answer request as Graph received it.
	Answer signaling.AnswerRequest
	// Rejected is the reject reason when the bot rejected the call.
	Rejected string
	// Redirected are the targets when the bot redirected the call.
	Redirected []signaling.InvitationParticipantInfo
	// Participants are the ids used, in Scenario order.
	Participants []string
	// SSRCs maps participant id to its audio sourceId: the SSRC of its own
	// section, or, when there are more participants than sections and
	// speakers rotate through them, the CSRC its packets carry.
	SSRCs map[string]uint32
	// PacketsSent counts the RTP packets sent per participant id, the
	// packets of silence (Participant.SilenceBetween) included.
	PacketsSent map[string]int
	// MediaConnected is when ICE and DTLS came up on graphsim's side.
	MediaConnected time.Time
	// MediaVanished is when the media processor vanished
	// (Scenario.MediaVanishesAt), just after its last packet; zero if it
	// did not.
	MediaVanished time.Time
	// TimelineStart is when the scenario's timeline began, the 0 of its
	// JoinAt, Talk spans and shares: graphsim sent its first frame then.
	TimelineStart time.Time
	// SharesSent are the content-sharing session ids notified, with their
	// start and end on graphsim's clock.
	SharesSent []SentShare
	// EndedByBot is true when the bot hung up.
	EndedByBot bool
	// TransferredTo is where the bot transferred the call, if it did.
	TransferredTo *signaling.InvitationParticipantInfo
}

// SentShare is a content-sharing session graphsim notified.
type SentShare struct {
	ID         string
	Start, End time.Time
	Presenter  string
}

func (sc *Scenario) defaults() {
	if sc.CallID == "" {
		sc.CallID = signaling.NewGUID()
	}
	if sc.Duration == 0 {
		sc.Duration = 10 * time.Second
	}
	if sc.AnswerWindow == 0 {
		sc.AnswerWindow = 15 * time.Second
		if sc.PolicyRecording {
			sc.AnswerWindow = 5 * time.Second
		}
	}
	// The caller's slice may be shared by concurrent calls: fill in a copy.
	sc.Participants = append([]Participant(nil), sc.Participants...)
	for i := range sc.Participants {
		p := &sc.Participants[i]
		if p.ID == "" {
			p.ID = signaling.NewGUID()
		}
		if p.UserID == "" && p.Phone == "" {
			p.UserID = signaling.NewGUID()
		}
	}
}

// identity is p as Graph's identitySet names it: a phone by its number, a
// Teams user by its id and name (with tenant, "" to leave it out).
func (p *Participant) identity(tenantID string) *signaling.IdentitySet {
	if p.Phone != "" {
		return &signaling.IdentitySet{Phone: &signaling.Identity{ID: p.Phone, DisplayName: p.DisplayName}}
	}
	return &signaling.IdentitySet{User: &signaling.Identity{ID: p.UserID, DisplayName: p.DisplayName, TenantID: tenantID}}
}
