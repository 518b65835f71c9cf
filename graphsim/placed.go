package graphsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Calls the bot places: POST /communications/calls ("create call"), to a
// meeting (by join link or by join meeting id), a Teams user or a phone
// number registered with AddMeeting, AddUser or AddPhone. graphsim checks
// the request as Graph does, answers 201 with the call, and then plays it
// against the request's callbackUri: establishing, the lobby, the media
// processor's answer to the blob, established, the roster, the audio and
// the end, as PlayCall plays an incoming call once answered.

// placement is the destination a create-call request names.
type placement struct {
	threadID, organizerID   string // a meeting by its join link
	joinMeetingID, passcode string // a meeting by its join id
	userID                  string // a Teams user
	phone                   string // a phone number
}

// what names the destination in Graph's 404.
func (p placement) what() string {
	switch {
	case p.threadID != "":
		return fmt.Sprintf("Meeting (chatInfo.threadId %s, organizer %s)", p.threadID, p.organizerID)
	case p.joinMeetingID != "":
		return fmt.Sprintf("Meeting (joinMeetingId %s)", p.joinMeetingID)
	case p.userID != "":
		return fmt.Sprintf("User %s", p.userID)
	}
	return fmt.Sprintf("Phone number %s", p.phone)
}

// checkCreateCall enforces what Graph requires of a call the bot places and
// returns the destination it names. Errors name the offending field.
func checkCreateCall(req *signaling.CreateCallRequest) (placement, error) {
	if req.ODataType != signaling.ODataCall {
		return placement{}, fmt.Errorf("@odata.type must be %s, got %q", signaling.ODataCall, req.ODataType)
	}
	if req.CallbackURI == "" {
		return placement{}, errors.New("callbackUri is required")
	}
	if err := checkModalities("requestedModalities", req.RequestedModalities); err != nil {
		return placement{}, err
	}
	if err := checkMediaConfig(req.MediaConfig); err != nil {
		return placement{}, err
	}
	if req.MediaConfig.ODataType == signaling.ODataAppHostedMediaConfig {
		if _, err := mediasession.DecodeBlob(req.MediaConfig.Blob); err != nil {
			return placement{}, fmt.Errorf("mediaConfig.blob: %v", err)
		}
	}
	if req.CallOptions != nil && req.CallOptions.ODataType != signaling.ODataOutgoingCallOptions {
		return placement{}, fmt.Errorf("callOptions: @odata.type must be %s, got %q", signaling.ODataOutgoingCallOptions, req.CallOptions.ODataType)
	}
	hasMeeting := len(req.MeetingInfo) > 0 && string(req.MeetingInfo) != "null"
	switch {
	case hasMeeting && len(req.Targets) > 0:
		return placement{}, errors.New("meetingInfo and targets: a call goes to a meeting or to targets, not both")
	case hasMeeting:
		return checkMeetingInfo(req)
	case len(req.Targets) == 0:
		return placement{}, errors.New("targets or meetingInfo is required")
	}
	return checkTarget(req)
}

// checkMeetingInfo reads the meeting a request joins.
func checkMeetingInfo(req *signaling.CreateCallRequest) (placement, error) {
	var p placement
	switch t := signaling.MeetingInfoType(req.MeetingInfo); t {
	case signaling.ODataOrganizerMeetingInfo:
		var mi signaling.OrganizerMeetingInfo
		if err := json.Unmarshal(req.MeetingInfo, &mi); err != nil {
			return p, fmt.Errorf("meetingInfo: %v", err)
		}
		if req.ChatInfo == nil || req.ChatInfo.ThreadID == "" {
			return p, errors.New("chatInfo.threadId is required with an organizerMeetingInfo")
		}
		if mi.Organizer == nil || mi.Organizer.User == nil || mi.Organizer.User.ID == "" {
			return p, errors.New("meetingInfo.organizer.user.id is required")
		}
		p.threadID, p.organizerID = req.ChatInfo.ThreadID, mi.Organizer.User.ID
	case signaling.ODataJoinMeetingIDMeetingInfo:
		var mi signaling.JoinMeetingIDMeetingInfo
		if err := json.Unmarshal(req.MeetingInfo, &mi); err != nil {
			return p, fmt.Errorf("meetingInfo: %v", err)
		}
		if mi.JoinMeetingID == "" {
			return p, errors.New("meetingInfo.joinMeetingId is required")
		}
		p.joinMeetingID, p.passcode = mi.JoinMeetingID, mi.Passcode
	default:
		return p, fmt.Errorf("meetingInfo: @odata.type %q is neither %s nor %s", t, signaling.ODataOrganizerMeetingInfo, signaling.ODataJoinMeetingIDMeetingInfo)
	}
	if req.TenantID == "" {
		return p, errors.New("tenantId is required to join a meeting")
	}
	return p, nil
}

// checkTarget reads the one target of a peer-to-peer call.
func checkTarget(req *signaling.CreateCallRequest) (placement, error) {
	if len(req.Targets) != 1 {
		return placement{}, fmt.Errorf("targets: graphsim places calls to exactly one target, got %d", len(req.Targets))
	}
	id := req.Targets[0].Identity
	switch {
	case id == nil:
		return placement{}, errors.New("targets[0].identity is required")
	case id.User != nil:
		if id.User.ID == "" {
			return placement{}, errors.New("targets[0].identity.user.id is required")
		}
		return placement{userID: id.User.ID}, nil
	case id.Phone != nil:
		if !isE164(id.Phone.ID) {
			return placement{}, fmt.Errorf("targets[0].identity.phone.id %q is not an E.164 number (+ and up to 15 digits)", id.Phone.ID)
		}
		if src := req.Source; src == nil || src.Identity == nil || src.Identity.ApplicationInstance == nil || src.Identity.ApplicationInstance.ID == "" {
			return placement{}, errors.New("source.identity.applicationInstance.id is required to call a phone number (the bot's application instance, which has the number)")
		}
		return placement{phone: id.Phone.ID}, nil
	}
	return placement{}, errors.New("targets[0].identity: graphsim places calls to a user or a phone")
}

// isE164 reports whether s is + and 2 to 15 digits, the first not 0.
func isE164(s string) bool {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < 2 || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}

// handleCreateCall answers POST /communications/calls and plays the call.
func (s *Sim) handleCreateCall(w http.ResponseWriter, r *http.Request) {
	var req signaling.CreateCallRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	p, err := checkCreateCall(&req)
	if err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	dest, refusal := s.dir.find(p)
	if refusal != nil {
		writeGraphError(w, refusal.Status, refusal.code(), refusal.Message)
		if dest != nil {
			dest.deliver(&PlacedResult{Request: req, Refused: true, Refusal: *refusal}, nil)
		}
		return
	}
	sc := dest.callee.Scenario
	sc.defaults()
	c := s.newCall(sc, "establishing")
	c.callback = req.CallbackURI
	c.options = req.CallOptions
	if err := s.addCall(c); err != nil {
		writeGraphError(w, http.StatusConflict, "Conflict", err.Error())
		return
	}
	res := &PlacedResult{CallResult: c.newResult(), Request: req, Created: time.Now()}
	if dest.callee.NotifyBeforeReply {
		if status, err := s.notify(r.Context(), req.CallbackURI, callNotification("updated", sc.CallID, signaling.Call{State: "establishing"})); err != nil || status != http.StatusAccepted {
			s.log.Warn("early notification not accepted", "call", sc.CallID, "status", status, "err", err)
		}
	}
	w.Header().Set("Location", s.GraphURL()+"/communications/calls/"+sc.CallID)
	writeJSON(w, http.StatusCreated, c.created(&req))
	s.placing.Go(func() {
		err := c.playPlaced(s.ctx, dest, res)
		c.mu.Lock()
		res.Ended = c.ended
		c.mu.Unlock()
		dest.deliver(res, err)
	})
}

// created is the call resource Graph answers a create-call request with.
func (c *simCall) created(req *signaling.CreateCallRequest) signaling.Call {
	source := &signaling.ParticipantInfo{ODataType: signaling.ODataParticipantInfo,
		Identity: &signaling.IdentitySet{ODataType: signaling.ODataIdentitySet,
			Application: &signaling.Identity{ODataType: signaling.ODataIdentity, ID: c.sim.cfg.ClientID, DisplayName: "Bot"}}}
	if req.Source != nil && req.Source.Identity != nil {
		source.Identity.ApplicationInstance = req.Source.Identity.ApplicationInstance
	}
	tenant := req.TenantID
	if tenant == "" {
		tenant = c.sim.cfg.TenantID
	}
	return signaling.Call{
		ODataType: signaling.ODataCall, ID: c.sc.CallID, State: "establishing", Direction: "outgoing",
		CallbackURI: req.CallbackURI, TenantID: tenant, MyParticipantID: c.myParticipantID,
		CallChainID: signaling.NewGUID(), Source: source, Targets: req.Targets,
		RequestedModalities: req.RequestedModalities, MeetingInfo: req.MeetingInfo, ChatInfo: req.ChatInfo,
	}
}

// playPlaced plays a call the bot placed to dest, once created, until it
// ends: establishing, the lobby of a meeting, then the media and the rest
// as for an incoming call (see play).
func (c *simCall) playPlaced(ctx context.Context, dest *Destination, res *PlacedResult) error {
	defer c.sim.removeCall(c)
	go c.sender(context.WithoutCancel(ctx))
	defer c.closeQueue()

	callee := dest.callee
	establishingSent := !c.sc.EstablishedFirst || callee.EndBeforeMedia != nil
	if establishingSent && !callee.NotifyBeforeReply {
		c.post(callNotification("updated", c.sc.CallID, signaling.Call{State: "establishing"}))
	}
	if ri := callee.EndBeforeMedia; ri != nil {
		c.terminate(int32(ri.Code), int32(ri.Subcode), ri.Message)
		return nil
	}
	if dest.meeting != nil && callee.Lobby != 0 {
		if !c.waitInLobby(ctx, callee.Lobby, res) {
			return nil
		}
	} else {
		res.Admitted = res.Created
	}
	c.mu.Lock()
	c.state = "answered" // in the call: transfer, invite and the rest apply
	c.mu.Unlock()
	return c.play(ctx, &res.CallResult, res.Request.MediaConfig, establishingSent)
}

// waitInLobby holds the bot in the meeting's lobby for wait (< 0: until it
// hangs up), with roster notifications of its own participant in the lobby
// and then admitted. It reports whether the bot was admitted; if not, the
// call has been terminated.
func (c *simCall) waitInLobby(ctx context.Context, wait time.Duration, res *PlacedResult) bool {
	c.setLobby(true)
	res.LobbyEnteredAt = time.Now()
	c.post(rosterNotification(c.sc.CallID, []signaling.Participant{c.self()}))
	var admit <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		admit = t.C
	}
	select {
	case <-admit:
	case <-c.byBot:
		res.EndedByBot = true
		c.terminate(200, 5001, "Call ended by the bot.")
		return false
	case <-ctx.Done():
		c.terminate(500, 0, "graphsim stopped")
		return false
	}
	c.setLobby(false)
	res.Admitted = time.Now()
	c.post(rosterNotification(c.sc.CallID, []signaling.Participant{c.self()}))
	return true
}

func (c *simCall) setLobby(in bool) {
	c.mu.Lock()
	c.inLobby = in
	c.mu.Unlock()
}
