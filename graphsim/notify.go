package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mediabot-dev/mediabot/signaling"
)

// notify POSTs one signed commsNotifications batch to url, as Graph does,
// and returns the HTTP status the bot answered.
func (s *Sim) notify(ctx context.Context, url string, batch ...signaling.CommsNotification) (int, error) {
	body, err := json.Marshal(signaling.CommsNotifications{ODataType: signaling.ODataCommsNotifications, Value: batch})
	if err != nil {
		return 0, err
	}
	return s.Notify(ctx, url, body)
}

// Notify POSTs body to url as Graph POSTs a notification: JSON, with a
// bearer token signed by graphsim's key. Tests use it to send notifications
// verbatim (Graph's documented examples, malformed bodies, ...). It returns
// the HTTP status the bot answered.
func (s *Sim) Notify(ctx context.Context, url string, body []byte) (int, error) {
	status, _, err := s.NotifyLocation(ctx, url, body)
	return status, err
}

// NotifyLocation is Notify that also returns the Location the bot answered
// with: a bot hands an incoming call to another deployment with 307 and a
// Location (graphsim does not follow it by itself).
func (s *Sim) NotifyLocation(ctx context.Context, url string, body []byte) (status int, location string, err error) {
	resp, _, err := s.post(ctx, url, body)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// NotifyReply is Notify that also returns the reply's body: the bot answers
// a participantJoiningNotification with a participantJoiningResponse.
func (s *Sim) NotifyReply(ctx context.Context, url string, body []byte) (status int, reply []byte, err error) {
	resp, reply, err := s.post(ctx, url, body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, reply, nil
}

// post sends a signed notification body and reads the reply (1 MiB at most).
func (s *Sim) post(ctx context.Context, url string, body []byte) (*http.Response, []byte, error) {
	tok, err := s.signer.token(s.cfg.Issuer, s.cfg.ClientID, s.cfg.TenantID)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("graphsim: notify %s: %w", url, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, reply, nil
}

// callNotification is a notification about the call resource itself.
func callNotification(changeType, callID string, call signaling.Call) signaling.CommsNotification {
	call.ODataType = signaling.ODataCall
	call.ODataID = "/communications/calls/" + callID
	raw, _ := json.Marshal(call)
	return signaling.CommsNotification{
		ODataType:    signaling.ODataCommsNotification,
		ChangeType:   changeType,
		Resource:     "/app/calls/" + callID,
		ResourceURL:  "/communications/calls/" + callID,
		ResourceData: raw,
	}
}

// rosterNotification is a full-roster participants update.
func rosterNotification(callID string, parts []signaling.Participant) signaling.CommsNotification {
	raw, _ := json.Marshal(parts)
	return signaling.CommsNotification{
		ODataType:    signaling.ODataCommsNotification,
		ChangeType:   "updated",
		Resource:     "/app/calls/" + callID + "/participants",
		ResourceURL:  "/communications/calls/" + callID + "/participants",
		ResourceData: raw,
	}
}

// sharingNotification is a contentSharingSession created or deleted, with no
// resourceData, as in Graph's own example.
func sharingNotification(changeType, callID, sessionID string) signaling.CommsNotification {
	return signaling.CommsNotification{
		ODataType:   signaling.ODataCommsNotification,
		ChangeType:  changeType,
		ResourceURL: "/communications/calls/" + callID + "/contentsharingsessions/" + sessionID,
	}
}

// operationNotification reports a commsOperation's end, as Graph does: a
// "deleted" notification of the operation resource.
func operationNotification(callID string, op signaling.CommsOperation) signaling.CommsNotification {
	raw, _ := json.Marshal(op)
	return signaling.CommsNotification{
		ODataType:    signaling.ODataCommsNotification,
		ChangeType:   "deleted",
		ResourceURL:  "/communications/calls/" + callID + "/operations/" + op.ID,
		ResourceData: raw,
	}
}
