package graphsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Errors PlayCall returns.
var (
	ErrNotAnswered = errors.New("graphsim: the bot did not answer inside the window")
	ErrRefused     = errors.New("graphsim: the bot refused the incoming-call notification")
)

// frameDur is the packetisation graphsim sends at.
const frameDur = 20 * time.Millisecond

// simCall is graphsim's state of one call.
type simCall struct {
	sim      *Sim
	sc       Scenario
	answerCh chan signaling.AnswerRequest
	rejectCh chan string
	// redirectCh carries the targets of the bot's redirect to ring.
	redirectCh chan []signaling.InvitationParticipantInfo
	byBot      chan struct{}
	queue      chan []signaling.CommsNotification
	queued     sync.WaitGroup
	rotating   bool // more participants than sections: speakers rotate (CSRC)
	// myParticipantID is the bot's own participant id in this call: the
	// call's myParticipantId, and the bot's id in every roster.
	myParticipantID string
	// options are the callOptions the bot asked for (in its answer, or in
	// the call it placed); nil when none.
	options *signaling.CallOptions

	// qmu guards sending on queue against its closing: an action handler
	// may post while the call ends.
	qmu     sync.Mutex
	qclosed bool

	mu       sync.Mutex
	state    string
	callback string
	peer     *mediaPeer
	hungUp   sync.Once
	// rosterElapsed is when, after media connected, the last roster was
	// made: GET participants lists who was present then.
	rosterElapsed time.Duration
	// transferredTo is where the bot transferred the call, if it did.
	transferredTo *signaling.InvitationParticipantInfo
	// inLobby is true while the bot waits in a meeting's lobby.
	inLobby bool
	// ended is the resultInfo the call was terminated with.
	ended *signaling.ResultInfo
	// rosterSSRCs are the sourceIds the roster notifications gave, for GET
	// participants; nil until the first roster is posted.
	rosterSSRCs map[string]uint32
	// sharesOn are the shares of the plan already on when the call was
	// answered (Share.Start < 0), notified before its media connects.
	sharesOn []SentShare
}

// newCall is a call of scenario sc (defaults applied) in state.
func (s *Sim) newCall(sc Scenario, state string) *simCall {
	return &simCall{
		sim: s, sc: sc, state: state,
		answerCh:        make(chan signaling.AnswerRequest, 1),
		rejectCh:        make(chan string, 1),
		redirectCh:      make(chan []signaling.InvitationParticipantInfo, 1),
		byBot:           make(chan struct{}),
		queue:           make(chan []signaling.CommsNotification, 64),
		myParticipantID: signaling.NewGUID(),
	}
}

// addCall makes c known to the Graph routes under its call id.
func (s *Sim) addCall(c *simCall) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.calls[c.sc.CallID]; dup {
		return fmt.Errorf("graphsim: call %s is already playing", c.sc.CallID)
	}
	s.calls[c.sc.CallID] = c
	return nil
}

// removeCall forgets c (the bot's later requests about it get Graph's 404)
// and ends its media.
func (s *Sim) removeCall(c *simCall) {
	s.mu.Lock()
	delete(s.calls, c.sc.CallID)
	s.mu.Unlock()
	c.end(nil)
}

// newResult is the result of c before it is played.
func (c *simCall) newResult() CallResult {
	res := CallResult{CallID: c.sc.CallID, SSRCs: map[string]uint32{}, PacketsSent: map[string]int{}}
	for _, p := range c.sc.Participants {
		res.Participants = append(res.Participants, p.ID)
	}
	return res
}

// decide takes the bot's decision on an incoming call: the call moves to
// state and hand passes the decision to ring; a call no longer incoming
// refuses it.
func (c *simCall) decide(state string, hand func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != "incoming" {
		return fmt.Errorf("call is %s, not incoming", c.state)
	}
	c.state = state
	hand()
	return nil
}

func (c *simCall) answer(req signaling.AnswerRequest) error {
	return c.decide("answered", func() {
		c.callback = req.CallbackURI
		c.answerCh <- req
	})
}

func (c *simCall) reject(reason string) error {
	return c.decide("rejected", func() { c.rejectCh <- reason })
}

func (c *simCall) hangupByBot() { c.hungUp.Do(func() { close(c.byBot) }) }

// transfer hands the call to target, as Graph does once the target takes
// it: "transferring", then the bot's leg ends (see runUntilEnd).
func (c *simCall) transfer(target signaling.InvitationParticipantInfo) {
	c.mu.Lock()
	c.transferredTo = &target
	c.mu.Unlock()
	c.post(callNotification("updated", c.sc.CallID, signaling.Call{State: "transferring"}))
	c.hangupByBot()
}

func (c *simCall) transferTarget() *signaling.InvitationParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferredTo
}

func (c *simCall) end(_ error) {
	c.mu.Lock()
	peer := c.peer
	c.peer = nil
	c.state = "terminated"
	c.mu.Unlock()
	if peer != nil {
		_ = peer.close()
	}
}

// post queues notifications for the call's callback; they are sent in order
// by one goroutine so that pacing the media never waits on HTTP. Once the
// call has ended (its queue closed) they are dropped.
func (c *simCall) post(n ...signaling.CommsNotification) {
	times := 1
	if c.sc.Duplicate {
		times = 2 // Graph documents no exactly-once delivery
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qclosed || c.queue == nil {
		return
	}
	for range times {
		c.queued.Add(1)
		c.queue <- n
	}
}

// closeQueue stops the sender once it has sent what was queued.
func (c *simCall) closeQueue() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if !c.qclosed {
		c.qclosed = true
		close(c.queue)
	}
}

func (c *simCall) sender(ctx context.Context) {
	for batch := range c.queue {
		c.mu.Lock()
		url := c.callback
		c.mu.Unlock()
		if status, err := c.sim.notify(ctx, url, batch...); err != nil || status != 202 {
			c.sim.log.Warn("notification not accepted", "call", c.sc.CallID, "status", status, "err", err)
		}
		c.queued.Done()
	}
}

// PlayCall plays one call against a bot and blocks until it has ended. It
// returns what graphsim saw, and an error when the call could not be played
// as scripted (not answered, media not connected, ...). Many goroutines may
// play calls at once, even from one Scenario value (its CallID must then be
// "" so that each call gets its own): sc is copied, never written.
func (s *Sim) PlayCall(ctx context.Context, sc Scenario) (*CallResult, error) {
	sc.defaults()
	c := s.newCall(sc, "incoming")
	if err := s.addCall(c); err != nil {
		return nil, err
	}
	defer s.removeCall(c)
	go c.sender(context.WithoutCancel(ctx))
	defer c.closeQueue()

	res := c.newResult()
	req, err := c.ring(ctx, &res)
	if err != nil || req == nil {
		return &res, err
	}
	c.options = req.CallOptions
	err = c.play(ctx, &res, req.MediaConfig, false)
	return &res, err
}

// play runs a call the bot is in, from its media config to the call's end,
// for incoming and placed calls alike: the media processor answers the
// blob's offer and connects, the call is established, the roster names each
// participant's audio sourceId, the participants speak for the scenario's
// duration (with its content sharing), and the call is terminated.
// establishingSent says whether "establishing" was already notified. With
// service-hosted media Graph plays the media itself: nothing is sent.
func (c *simCall) play(ctx context.Context, res *CallResult, mc signaling.MediaConfig, establishingSent bool) error {
	sc := c.sc
	if mc.ODataType != signaling.ODataAppHostedMediaConfig {
		c.establish(establishingSent)
		c.runUntilEnd(ctx, res, nil, nil)
		return nil
	}
	blob, err := mediasession.DecodeBlob(mc.Blob)
	if err != nil {
		c.terminate(500, 1005, "Bot media blob could not be read: "+err.Error())
		return err
	}
	if !establishingSent && !sc.EstablishedFirst {
		c.post(callNotification("updated", sc.CallID, signaling.Call{State: "establishing"}))
		establishingSent = true
	}
	c.notifySharesOn()
	codecs, err := c.sectionCodecs(strings.Count(blob.Offer, "m=audio"))
	if err != nil {
		c.terminate(500, 0, err.Error())
		return err
	}
	sending, err := c.encodeMedia()
	if err != nil {
		c.terminate(500, 0, "graphsim could not encode its audio: "+err.Error())
		return err
	}
	peer, err := connectMedia(ctx, c.sim.media, blob, codecs, c.sim.client)
	if err == nil {
		c.mu.Lock()
		c.peer = peer
		c.mu.Unlock()
		err = peer.waitConnected(10 * time.Second)
	}
	if err != nil {
		select {
		case <-c.byBot: // the bot hung up while media was coming up
			res.EndedByBot = true
			c.terminate(200, 5001, "Call ended by the bot.")
			return nil
		default:
		}
		c.terminate(410, 301005, "Media connectivity failure: "+err.Error())
		return err
	}
	res.MediaConnected = time.Now()
	c.establish(establishingSent)
	for i, p := range sc.Participants {
		if c.rotating {
			res.SSRCs[p.ID] = rand.Uint32() // the CSRC that names the speaker, random like an SSRC
		} else {
			res.SSRCs[p.ID] = peer.ssrcs[i]
		}
	}
	c.rosterPosted(res)
	if sc.RosterAfter == 0 {
		c.post(rosterNotification(sc.CallID, c.roster(res, -1, 0)))
	}
	c.levelsOn(sending, peer)
	c.runUntilEnd(ctx, res, peer, sending)
	return nil
}

// ring sends the incoming-call notification and waits for the bot's answer
// or rejection inside the window. A nil request with a nil error means the
// call was rejected or redirected.
func (c *simCall) ring(ctx context.Context, res *CallResult) (*signaling.AnswerRequest, error) {
	sc := c.sc
	incoming := signaling.Call{
		ID: sc.CallID, State: "incoming", Direction: "incoming",
		Source:              c.source(),
		Targets:             []signaling.InvitationParticipantInfo{{ODataType: signaling.ODataInvitationParticipantInfo, Identity: &signaling.IdentitySet{Application: &signaling.Identity{ID: c.sim.cfg.ClientID, DisplayName: "Bot"}}}},
		RequestedModalities: []string{"audio"},
		TenantID:            c.sim.cfg.TenantID,
		CallChainID:         signaling.NewGUID(),
		MyParticipantID:     c.myParticipantID,
	}
	if sc.PolicyRecording {
		observed := signaling.NewGUID()
		incoming.IncomingContext = &signaling.IncomingContext{ODataType: signaling.ODataIncomingContext,
			SourceParticipantID: observed, ObservedParticipantID: observed}
		incoming.MeetingInfo = json.RawMessage(`{"@odata.type":"#microsoft.graph.tokenMeetingInfo","token":"join token"}`)
		incoming.ApplicationMetadata = json.RawMessage(`{"botData":{"mediaHostedRegion":"USEA","inviteReasons":["PolicyBasedRecording"],"policyIdentifier":"graphsim policy"}}`)
	}
	start := time.Now()
	status, err := c.sim.notify(ctx, sc.BotURL, callNotification("created", sc.CallID, incoming))
	if err != nil {
		return nil, err
	}
	if status != 202 {
		return nil, fmt.Errorf("%w: HTTP %d", ErrRefused, status)
	}
	window := time.NewTimer(sc.AnswerWindow)
	defer window.Stop()
	select {
	case req := <-c.answerCh:
		res.AnswerLatency = time.Since(start)
		res.Answer = req
		return &req, nil
	case reason := <-c.rejectCh:
		res.Rejected = reason
		c.mu.Lock()
		c.callback = sc.BotURL
		c.mu.Unlock()
		c.terminate(603, 0, "Call rejected by the bot: "+reason)
		return nil, nil
	case targets := <-c.redirectCh:
		res.Redirected = targets
		c.endRedirected()
		return nil, nil
	case <-window.C:
		c.mu.Lock()
		c.state = "terminated"
		c.callback = sc.BotURL
		c.mu.Unlock()
		c.terminate(408, 1106, "Call was not answered in time.")
		return nil, ErrNotAnswered
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *simCall) source() *signaling.ParticipantInfo {
	if c.sc.Source != nil {
		return c.sc.Source
	}
	info := &signaling.ParticipantInfo{ODataType: signaling.ODataParticipantInfo, Region: "westus", LanguageID: "en-US"}
	if len(c.sc.Participants) > 0 {
		info.Identity = c.sc.Participants[0].identity("")
	}
	return info
}

// establish notifies the establishment states not sent yet: "established",
// after "establishing" unless that was sent already, or before it when the
// scenario says EstablishedFirst.
func (c *simCall) establish(establishingSent bool) {
	states := []string{"establishing", "established"}
	switch {
	case establishingSent:
		states = states[1:]
	case c.sc.EstablishedFirst:
		states[0], states[1] = states[1], states[0]
	}
	for _, st := range states {
		c.post(callNotification("updated", c.sc.CallID, signaling.Call{State: st}))
	}
}

// terminate ends the call as Graph does: terminating, then deleted with
// state terminated and resultInfo; it waits until both were delivered.
func (c *simCall) terminate(code, subcode int32, msg string) {
	info := &signaling.ResultInfo{Code: signaling.Int32OrString(code), Subcode: signaling.Int32OrString(subcode), Message: msg}
	c.mu.Lock()
	c.ended = info
	c.mu.Unlock()
	c.post(callNotification("updated", c.sc.CallID, signaling.Call{State: "terminating"}))
	c.post(callNotification("deleted", c.sc.CallID, signaling.Call{State: "terminated", ResultInfo: info}))
	c.queued.Wait()
}

// self is the bot's own participant: the call's myParticipantId, named by
// the app's identity, in the lobby or not.
func (c *simCall) self() signaling.Participant {
	c.mu.Lock()
	inLobby := c.inLobby
	c.mu.Unlock()
	return signaling.Participant{ODataType: signaling.ODataParticipant, ID: c.myParticipantID, IsInLobby: inLobby,
		Info: &signaling.ParticipantInfo{ODataType: signaling.ODataParticipantInfo,
			Identity: &signaling.IdentitySet{Application: &signaling.Identity{ID: c.sim.cfg.ClientID, DisplayName: "Bot"}}}}
}

// roster is the call's participants as Graph lists them at elapsed: the bot
// itself, and each participant present with its audio sourceId (and a
// screen-sharing stream for the presenter when presenting >= 0). It is
// remembered for GET participants.
func (c *simCall) roster(res *CallResult, presenting int, elapsed time.Duration) []signaling.Participant {
	c.mu.Lock()
	c.rosterElapsed = elapsed
	c.mu.Unlock()
	parts := []signaling.Participant{c.self()}
	for i, p := range c.sc.Participants {
		if !p.present(elapsed) {
			continue
		}
		part := signaling.Participant{
			ODataType: signaling.ODataParticipant, ID: p.ID,
			Info: &signaling.ParticipantInfo{ODataType: signaling.ODataParticipantInfo, EndpointType: "default", LanguageID: "en-US",
				Identity: p.identity(c.sim.cfg.TenantID)},
			MediaStreams: []signaling.MediaStream{{ODataType: signaling.ODataMediaStream, MediaType: "audio", Label: "main-audio",
				SourceID: strconv.FormatUint(uint64(res.SSRCs[p.ID]), 10), Direction: "sendReceive"}},
		}
		if i == presenting {
			part.MediaStreams = append(part.MediaStreams, signaling.MediaStream{ODataType: signaling.ODataMediaStream,
				MediaType: "videoBasedScreenSharing", Label: "applicationsharing-video", SourceID: strconv.Itoa(9000 + i), Direction: "sendOnly"})
		}
		parts = append(parts, part)
	}
	return parts
}

// media is one participant's audio as graphsim sends it: the packets and
// their audio levels, encoded once and shared by calls (never written), and
// the RTP state of its section.
type media struct {
	payloads [][]byte
	levels   []byte // RFC 6464 level byte of each payload
	// silence is the packet sent between talk spans (SilenceBetween), nil
	// when nothing is.
	silence []byte
	// levelID is the negotiated id of the audio level extension its
	// packets carry (AudioLevels), 0 for none.
	levelID uint8
	tsStep  uint32 // RTP clock ticks per packet: 960 for Opus, 160 for PCMU
	seq     uint16
	ts      uint32
	sent    bool // a packet went out for the previous frame
}

// encodeMedia returns what each participant says from joining to the end
// of the call, in the participant's codec: encoded once per Sim and shared
// by every call that plays the same voice for as long (read-only). It runs
// before media connects, as a media processor has its audio at hand: the
// timeline starts as soon as the bot's media does, even on a busy machine.
func (c *simCall) encodeMedia() ([]media, error) {
	frames := int(c.sc.Duration / frameDur)
	out := make([]media, len(c.sc.Participants))
	for i := range c.sc.Participants {
		p := &c.sc.Participants[i]
		codec := p.codec()
		enc, err := c.sim.encoded.get(p.Voice, codec, max(frames-int(p.JoinAt/frameDur), 0))
		if err != nil {
			return nil, fmt.Errorf("participant %s: %w", p.ID, err)
		}
		out[i] = media{payloads: enc.payloads, levels: enc.levels, tsStep: codec.step, seq: uint16(rand.UintN(1 << 16)), ts: rand.Uint32()}
		if p.SilenceBetween && !c.rotating {
			if out[i].silence, err = c.sim.encoded.silence(codec); err != nil {
				return nil, fmt.Errorf("participant %s: %w", p.ID, err)
			}
		}
	}
	return out, nil
}

// levelsOn gives each participant on a section of its own the audio level
// extension id its section negotiated (AudioLevels); rotating speakers get
// theirs from the section they are on (rotation.tick).
func (c *simCall) levelsOn(sending []media, peer *mediaPeer) {
	for i := range sending {
		if c.sc.Participants[i].AudioLevels && !c.rotating && i < len(peer.levelIDs) {
			sending[i].levelID = peer.levelIDs[i]
		}
	}
}

// runUntilEnd streams the participants' audio at real-time pace, plays the
// content-sharing sessions, and ends the call after the scenario's duration
// or when the bot hangs up.
func (c *simCall) runUntilEnd(ctx context.Context, res *CallResult, peer *mediaPeer, sending []media) {
	sc := c.sc
	frames := int(sc.Duration / frameDur)
	sharing := c.sharingPlan()
	shares := make([]SentShare, len(sharing))
	copy(shares, c.sharesOn)
	send := ownSections{}
	if c.rotating && peer != nil {
		send.rotation = newRotation(len(peer.tracks))
	}
	presenting := -1 // the participant sharing now
	for k, sh := range shares {
		if sh.ID != "" {
			presenting = sharing[k].Presenter
		}
	}
	t0 := time.Now()
	res.TimelineStart = t0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; n < frames; n++ {
		elapsed := time.Duration(n) * frameDur
		timer.Reset(time.Until(t0.Add(elapsed)))
		select {
		case <-timer.C:
		case <-c.byBot:
			c.finishShares(res, shares, sharing)
			if to := c.transferTarget(); to != nil {
				res.TransferredTo = to
				c.post(callNotification("updated", sc.CallID, signaling.Call{State: "transferAccepted"}))
				c.terminate(200, 0, "The call was transferred.")
				return
			}
			res.EndedByBot = true
			c.terminate(200, 5001, "Call ended by the bot.")
			return
		case <-ctx.Done():
			c.finishShares(res, shares, sharing)
			c.terminate(500, 0, "graphsim stopped")
			return
		}
		rosterDue := sc.RosterAfter > 0 && elapsed == sc.RosterAfter.Truncate(frameDur)
		for i := range sc.Participants {
			rosterDue = rosterDue || (sc.Participants[i].arrivesOrLeaves(elapsed) && (sc.RosterAfter == 0 || elapsed > sc.RosterAfter))
		}
		if rosterDue {
			c.post(rosterNotification(sc.CallID, c.roster(res, presenting, elapsed)))
		}
		for k, sh := range sharing {
			if shares[k].ID == "" && elapsed >= sh.Start {
				shares[k] = SentShare{ID: signaling.NewGUID(), Start: time.Now(), Presenter: sc.Participants[sh.Presenter].ID}
				presenting = sh.Presenter
				c.post(rosterNotification(sc.CallID, c.roster(res, presenting, elapsed)))
				c.post(sharingNotification("created", sc.CallID, shares[k].ID))
			}
			if shares[k].ID != "" && shares[k].End.IsZero() && elapsed >= sh.End {
				shares[k].End = time.Now()
				presenting = -1
				c.post(sharingNotification("deleted", sc.CallID, shares[k].ID))
				c.post(rosterNotification(sc.CallID, c.roster(res, presenting, elapsed)))
			}
		}
		if sc.MediaVanishesAt > 0 && peer != nil && res.MediaVanished.IsZero() && elapsed >= sc.MediaVanishesAt {
			if err := peer.vanish(); err != nil {
				c.sim.log.Warn("media processor could not vanish", "call", sc.CallID, "err", err)
			}
			res.MediaVanished = time.Now()
		}
		switch {
		case !res.MediaVanished.IsZero():
		case send.rotation != nil:
			send.rotation.tick(c, n, elapsed, sending, peer, res)
		default:
			send.tick(c, n, elapsed, sending, peer, res)
		}
	}
	c.finishShares(res, shares, sharing)
	if sc.MediaClosesFirst > 0 {
		c.end(nil)
		time.Sleep(sc.MediaClosesFirst)
		select {
		case <-c.byBot: // the bot took the closed media for a failure
			res.EndedByBot = true
		default:
		}
	}
	c.terminate(200, 5010, "The conversation has ended.")
}

// sharingPlan is the scenario's shares, if the bot asked for sharing
// notifications: Graph sends sharing sessions only to bots that asked.
func (c *simCall) sharingPlan() []Share {
	if c.options == nil || !c.options.IsContentSharingNotificationEnabled {
		return nil
	}
	return c.sc.Shares
}

// notifySharesOn notifies the shares already on when the call is answered
// (Start < 0), before its media connects, as Graph reports the sessions of
// a meeting in progress.
func (c *simCall) notifySharesOn() {
	plan := c.sharingPlan()
	c.sharesOn = make([]SentShare, len(plan))
	for k, sh := range plan {
		if sh.Start < 0 {
			c.sharesOn[k] = SentShare{ID: signaling.NewGUID(), Start: time.Now(), Presenter: c.sc.Participants[sh.Presenter].ID}
			c.post(sharingNotification("created", c.sc.CallID, c.sharesOn[k].ID))
		}
	}
}

// finishShares ends the shares still open when the call ends: Graph ends a
// sharing session with its call.
func (c *simCall) finishShares(res *CallResult, shares []SentShare, plan []Share) {
	for k := range plan {
		if shares[k].ID != "" && shares[k].End.IsZero() {
			shares[k].End = time.Now()
			c.post(sharingNotification("deleted", c.sc.CallID, shares[k].ID))
		}
	}
	for _, sh := range shares {
		if sh.ID != "" {
			res.SharesSent = append(res.SharesSent, sh)
		}
	}
}
