package graphsim

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/mediabot-dev/mediabot/signaling"
)

// The call actions beyond answer and reject: redirect, transfer, invite,
// updateRecordingStatus and the participants list, as Graph answers them,
// plus the fault injector tests use to make Graph throttle or fail.

// fault is a pending injected failure (see FailNext).
type fault struct {
	method, suffix string
	status         int // 0: no failure, only the delay
	retryAfter     time.Duration
	delay          time.Duration
	left           int
}

// FailNext makes the next times Graph requests whose method is method and
// whose URL path ends with pathSuffix (e.g. "/participants/invite") fail
// with status and Graph's error body, before they are handled normally;
// retryAfter > 0 adds a Retry-After header in whole seconds (rounded up).
// The token is not checked on a failed request: the refusal stands for
// Graph's front door throttling or failing. Faults added earlier match
// first.
func (s *Sim) FailNext(method, pathSuffix string, status int, retryAfter time.Duration, times int) {
	if times <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, suffix: pathSuffix, status: status, retryAfter: retryAfter, left: times})
}

// SlowNext makes the next times Graph requests whose method is method and
// whose URL path ends with pathSuffix wait delay before Graph handles them
// (normally): a slow Graph. Faults and delays added earlier match first.
func (s *Sim) SlowNext(method, pathSuffix string, delay time.Duration, times int) {
	if times <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, suffix: pathSuffix, delay: delay, left: times})
}

// takeFault consumes one matching injected failure, if any.
func (s *Sim) takeFault(r *http.Request) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.method == r.Method && strings.HasSuffix(r.URL.Path, f.suffix) {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

// injectFaults answers a request with the failure FailNext queued for it.
func (s *Sim) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.takeFault(r)
		if f != nil && f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		if f == nil || f.status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if f.retryAfter > 0 {
			secs := (f.retryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
		}
		code := strings.ReplaceAll(http.StatusText(f.status), " ", "")
		writeGraphError(w, f.status, code, "graphsim: injected failure")
	})
}

// liveCall is the call named in the URL, or nil after writing Graph's 404.
func (s *Sim) liveCall(w http.ResponseWriter, r *http.Request) *simCall {
	c := s.call(chi.URLParam(r, "callId"))
	if c == nil {
		writeGraphError(w, http.StatusNotFound, "8522", "Call not found.")
	}
	return c
}

// answered checks that c has been answered (and not ended): transfer,
// invite and updateRecordingStatus act on an established call.
func (c *simCall) answered() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != "answered" {
		return fmt.Errorf("call is %s, not answered", c.state)
	}
	return nil
}

func (s *Sim) handleRedirect(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.RedirectRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := checkRedirect(&req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := c.redirect(req.Targets); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// checkRedirect enforces what Graph requires of a redirect.
func checkRedirect(req *signaling.RedirectRequest) error {
	if len(req.Targets) == 0 {
		return errors.New("targets is required")
	}
	if len(req.Targets) > 25 {
		return fmt.Errorf("targets: %d targets, at most 25", len(req.Targets))
	}
	if req.Timeout != 0 && (req.Timeout < 15 || req.Timeout > 90) {
		return fmt.Errorf("timeout: %d is outside 15..90 seconds", req.Timeout)
	}
	for i, t := range req.Targets {
		if err := checkIdentity(t.Identity); err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
	}
	return nil
}

// checkIdentity requires an identitySet naming someone.
func checkIdentity(id *signaling.IdentitySet) error {
	if id == nil {
		return errors.New("identity is required")
	}
	for _, m := range []*signaling.Identity{id.User, id.Application, id.ApplicationInstance, id.Phone, id.Guest, id.Device} {
		if m != nil && m.ID != "" {
			return nil
		}
	}
	return errors.New("identity names no one (no member with an id)")
}

// redirect hands the incoming call to targets: ring reports it and ends the
// call for the bot.
func (c *simCall) redirect(targets []signaling.InvitationParticipantInfo) error {
	return c.decide("redirected", func() { c.redirectCh <- targets })
}

// endRedirected ends a redirected call for the bot as Graph does: one
// deleted notification with state terminated, to the bot's global URL.
func (c *simCall) endRedirected() {
	c.mu.Lock()
	c.callback = c.sc.BotURL
	c.mu.Unlock()
	c.post(callNotification("deleted", c.sc.CallID, signaling.Call{State: "terminated",
		ResultInfo: &signaling.ResultInfo{Code: 200, Message: "Call redirected by the bot."}}))
	c.queued.Wait()
}

func (s *Sim) handleTransfer(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.TransferRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := checkIdentity(req.TransferTarget.Identity); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "transferTarget: "+err.Error())
		return
	}
	if err := c.answered(); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
	c.transfer(req.TransferTarget)
}

func (s *Sim) handleInvite(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.InviteParticipantsRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if len(req.Participants) == 0 {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "participants is required")
		return
	}
	for i, p := range req.Participants {
		if err := checkIdentity(p.Identity); err != nil {
			writeGraphError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("participants[%d]: %v", i, err))
			return
		}
	}
	if err := c.answered(); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	op := signaling.CommsOperation{ODataType: signaling.ODataInviteParticipantsOperation,
		ID: signaling.NewGUID(), Status: "running", ClientContext: req.ClientContext}
	writeJSON(w, http.StatusOK, op)
	// The invitees answer; Graph reports the operation's end on the
	// callback, as a deleted operation resource.
	op.Status = "completed"
	c.post(operationNotification(c.sc.CallID, op))
}

func (s *Sim) handleUpdateRecordingStatus(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.UpdateRecordingStatusRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	switch req.Status {
	case "notRecording", "recording", "failed":
	default:
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "status must be notRecording, recording or failed")
		return
	}
	if utf8.RuneCountInString(req.ClientContext) > 256 {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "clientContext is longer than 256 characters")
		return
	}
	if err := c.answered(); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	id := signaling.NewGUID()
	w.Header().Set("Location", s.GraphURL()+"/communications/calls/"+c.sc.CallID+"/operations/"+id)
	writeJSON(w, http.StatusOK, signaling.CommsOperation{ODataType: signaling.ODataUpdateRecordingStatusOperation,
		ID: id, Status: "completed", ClientContext: req.ClientContext})
}

// handleListParticipants answers GET .../participants with the roster graphsim
// last notified. Before the first roster notification (media not connected
// yet, or service-hosted media) the participants have no audio stream.
func (s *Sim) handleListParticipants(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	c.mu.Lock()
	ssrcs, elapsed := c.rosterSSRCs, c.rosterElapsed
	c.mu.Unlock()
	parts := c.roster(&CallResult{SSRCs: ssrcs}, -1, elapsed)
	if ssrcs == nil {
		for i := 1; i < len(parts); i++ {
			parts[i].MediaStreams = nil
		}
	}
	writeJSON(w, http.StatusOK, signaling.ParticipantsPage{Value: parts})
}

// rosterPosted keeps what the roster needs once media streams are known, so
// that GET participants lists what the notifications said.
func (c *simCall) rosterPosted(res *CallResult) {
	ssrcs := maps.Clone(res.SSRCs)
	c.mu.Lock()
	c.rosterSSRCs = ssrcs
	c.mu.Unlock()
}
