package graphsim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Callee is graphsim's side of a call the bot places (POST
// /communications/calls): who is there and what the destination does.
type Callee struct {
	// Scenario is who speaks once the call is up and how the call goes:
	// Participants, Duration, Shares (sent when the bot's callOptions ask
	// for content-sharing notifications), Duplicate, EstablishedFirst
	// ("establishing" is then not notified first but after "established",
	// out of order), RosterAfter. CallID, when set, is the id of the calls
	// placed to the destination (so one at a time); "" makes a GUID per
	// call. BotURL, AnswerWindow, PolicyRecording and Source are not used:
	// notifications go to the request's callbackUri.
	Scenario
	// Lobby (meetings only) is how long the bot waits in the lobby before it
	// is admitted: meanwhile the roster shows the bot's own participant with
	// isInLobby true. 0 admits it at once; < 0 never does (the call lasts
	// until the bot hangs up).
	Lobby time.Duration
	// Refuse, when set, makes Graph refuse the POST itself with this HTTP
	// status and Graph's error body: no call is created.
	Refuse *Refusal
	// EndBeforeMedia, when set, makes Graph create the call (201), notify
	// "establishing", then end it with terminating and deleted carrying this
	// resultInfo before any media: a meeting that has not started, a user
	// who declines, a number that is busy.
	EndBeforeMedia *signaling.ResultInfo
	// NotifyBeforeReply delivers the call's first notification
	// ("establishing") to the callbackUri before the 201 reply goes out:
	// the race every bot that places calls meets sooner or later.
	NotifyBeforeReply bool
}

// Refusal is Graph's refusal of a request: an HTTP status with Graph's
// error body {code, message}. Code "" is the status text without spaces
// (NotFound, Forbidden, ...).
type Refusal struct {
	Status        int
	Code, Message string
}

func (r Refusal) code() string {
	if r.Code != "" {
		return r.Code
	}
	return strings.ReplaceAll(http.StatusText(r.Status), " ", "")
}

// PlacedResult is what graphsim saw of one call the bot placed.
type PlacedResult struct {
	// CallResult is filled as PlayCall fills it (SSRCs, PacketsSent,
	// MediaConnected, SharesSent, EndedByBot, ...); Answer and
	// AnswerLatency stay zero: a placed call is not answered.
	CallResult
	// Request is the bot's POST body as graphsim received it.
	Request signaling.CreateCallRequest
	// Refused is true when Graph refused the POST (Callee.Refuse, a wrong
	// passcode); Refusal is what it answered. No call was created.
	Refused bool
	Refusal Refusal
	// Created is when graphsim answered 201.
	Created time.Time
	// LobbyEnteredAt is when the bot was put in the lobby (zero if it was
	// not); Admitted is when it was let in: Created without a lobby, zero if
	// it never was (refused, ended before media, hung up in the lobby).
	LobbyEnteredAt, Admitted time.Time
	// Ended is the resultInfo of the deleted notification that ended the
	// call (nil when refused).
	Ended *signaling.ResultInfo
}

// Destination is someone the bot can call: a meeting, a Teams user or a
// phone number registered with the Sim. Each POST that names it plays a new
// call with its Callee; Wait hands over their results in order.
type Destination struct {
	callee  Callee
	meeting *Meeting // nil for a user or a phone

	mu      sync.Mutex
	results []placedOutcome
	changed chan struct{} // closed and replaced when results grow
}

type placedOutcome struct {
	res *PlacedResult
	err error
}

func newDestination(c Callee) *Destination {
	// The caller keeps its slices: calls copy from these, never from theirs.
	c.Participants = slices.Clone(c.Participants)
	c.Shares = slices.Clone(c.Shares)
	return &Destination{callee: c, changed: make(chan struct{})}
}

// Wait returns the result of the next call placed to d, once that call has
// ended (or was refused): results are kept until waited for, in the order
// the calls ended. The error is the call's own when it could not be played
// as scripted (media not connected, ...), or ctx's.
func (d *Destination) Wait(ctx context.Context) (*PlacedResult, error) {
	for {
		d.mu.Lock()
		if len(d.results) > 0 {
			o := d.results[0]
			d.results = d.results[1:]
			d.mu.Unlock()
			return o.res, o.err
		}
		changed := d.changed
		d.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// deliver keeps a finished call's result for Wait.
func (d *Destination) deliver(res *PlacedResult, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.results = append(d.results, placedOutcome{res, err})
	close(d.changed)
	d.changed = make(chan struct{})
}

// AddUser registers Teams user userID (an Entra object id) as someone the
// bot can call with a user target. With no Scenario.Participants the user
// alone is in the call, speaking with the voice of Cast[0]. Registering a
// user again replaces the earlier registration.
func (s *Sim) AddUser(userID string, c Callee) *Destination {
	if len(c.Participants) == 0 {
		c.Participants = []Participant{{UserID: userID, DisplayName: Cast[0].Name, Voice: Cast[0].Voice}}
	}
	d := newDestination(c)
	s.dir.mu.Lock()
	s.dir.users[strings.ToLower(userID)] = d
	s.dir.mu.Unlock()
	return d
}

// AddPhone registers phone number e164 ("+" and digits, e.g.
// "+14255550123") as someone the bot can call with a phone target. With no
// Scenario.Participants the phone alone is in the call, speaking with the
// voice of Cast[0] in G.711 µ-law as a PSTN gateway sends it. Registering a
// number again replaces the earlier registration.
func (s *Sim) AddPhone(e164 string, c Callee) *Destination {
	if len(c.Participants) == 0 {
		c.Participants = []Participant{{Phone: e164, Voice: Cast[0].Voice}}
	}
	d := newDestination(c)
	s.dir.mu.Lock()
	s.dir.phones[e164] = d
	s.dir.mu.Unlock()
	return d
}

// directory is who the bot can call.
type directory struct {
	mu       sync.Mutex
	byThread map[string]*Meeting // thread id + "/" + lower-case organizer id
	byJoinID map[string]*Meeting
	users    map[string]*Destination // by lower-case user id
	phones   map[string]*Destination // by E.164 number
}

func (d *directory) init() {
	d.byThread = map[string]*Meeting{}
	d.byJoinID = map[string]*Meeting{}
	d.users = map[string]*Destination{}
	d.phones = map[string]*Destination{}
}

// find is the destination a placement names, or Graph's refusal when there
// is none (404) or it refuses (a wrong passcode, Callee.Refuse). A refused
// placement to a known destination returns both.
func (d *directory) find(p placement) (*Destination, *Refusal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var dest *Destination
	switch {
	case p.threadID != "":
		if m := d.byThread[p.threadID+"/"+strings.ToLower(p.organizerID)]; m != nil {
			dest = m.Destination
		}
	case p.joinMeetingID != "":
		m := d.byJoinID[p.joinMeetingID]
		if m == nil {
			break
		}
		if p.passcode != m.Passcode {
			return m.Destination, &Refusal{Status: 403, Code: "Forbidden",
				Message: "The passcode does not match the meeting's (joinMeetingIdMeetingInfo.passcode)."}
		}
		dest = m.Destination
	case p.userID != "":
		dest = d.users[strings.ToLower(p.userID)]
	case p.phone != "":
		dest = d.phones[p.phone]
	}
	if dest == nil {
		return nil, &Refusal{Status: 404, Code: "NotFound", Message: p.what() + " not found."}
	}
	return dest, dest.callee.Refuse
}
