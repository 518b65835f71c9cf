// Package joinclient is a client of a running bot's operator API
// (/v1/calls): place a call, follow it, hang up. `mediabot join` and the
// demo use it.
package joinclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/signaling"
)

// Client talks to one bot.
type Client struct {
	// BotURL is the bot's operations URL (its --ops-listen), e.g.
	// http://127.0.0.1:9441.
	BotURL string
	// Token is the bot's --admin-token ("" for a loopback bot without one).
	Token string
	// HTTP; nil is a client with a 40 s timeout (placing waits for Graph).
	HTTP *http.Client
}

// Error is the bot's refusal: its status and the error body, which for a
// 502 is Graph's own (with Graph's request id).
type Error struct {
	Status int
	signaling.GraphErrorBody
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Code == "noToken":
		return "the bot " + e.Message
	case e.Status == http.StatusBadGateway:
		b.WriteString("Graph refused the call")
	case e.Status == http.StatusGatewayTimeout:
		b.WriteString("no reply from Graph (the call may exist all the same; the bot hangs it up)")
	case e.Status == http.StatusUnauthorized:
		b.WriteString("the bot refused the admin token (--admin-token, MEDIABOT_ADMIN_TOKEN)")
	case e.Status == http.StatusBadRequest:
		return "the bot refused the request: " + e.Message
	default:
		fmt.Fprintf(&b, "the bot answered %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" || e.Message != "" {
		fmt.Fprintf(&b, ": %s: %s", e.Code, e.Message)
	}
	if in := e.InnerError; in != nil && in.RequestID != "" {
		fmt.Fprintf(&b, " (Graph request-id %s)", in.RequestID)
	}
	return b.String()
}

// Place asks the bot to place the call req names; it returns the call as
// Graph created it.
func (c *Client) Place(ctx context.Context, req mediabot.JoinRequest) (mediabot.CallInfo, error) {
	var info mediabot.CallInfo
	err := c.do(ctx, http.MethodPost, "/v1/calls", req, &info)
	return info, err
}

// Call describes a live or recently ended call.
func (c *Client) Call(ctx context.Context, id string) (mediabot.CallInfo, error) {
	var info mediabot.CallInfo
	err := c.do(ctx, http.MethodGet, "/v1/calls/"+url.PathEscape(id), nil, &info)
	return info, err
}

// ErrCallEnded is returned by Follow for a call that ended first.
var ErrCallEnded = errors.New("the call ended")

// Follow polls call id until it is established with media flowing (nil),
// has ended (ErrCallEnded, with Graph's result), or ctx ends. say is told of
// each change worth a line to the operator: the lobby, admission, states.
func (c *Client) Follow(ctx context.Context, id string, say func(string)) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last mediabot.CallInfo
	for first := true; ; first = false {
		info, err := c.Call(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case info.InLobby && (first || !last.InLobby):
			say("in the meeting's lobby: waiting to be admitted")
		case !info.InLobby && last.InLobby:
			say("admitted from the lobby")
		}
		if info.State != last.State {
			say("call " + info.State)
		}
		last = info
		switch {
		case info.Ended || info.State == "terminated": // "terminating" is followed by Graph's result
			switch ri := info.ResultInfo; {
			case ri != nil:
				return fmt.Errorf("%w: %d/%d %s", ErrCallEnded, ri.Code, ri.Subcode, ri.Message)
			case info.EndReason != "":
				return fmt.Errorf("%w: the bot left: %s", ErrCallEnded, info.EndReason)
			}
			return ErrCallEnded
		case info.State == "established" && !info.MediaStart.IsZero() && !info.InLobby:
			say("media connected")
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("call %s is still %s: %w", id, info.State, ctx.Err())
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BotURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("bot URL %q: %w", c.BotURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 40 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the bot at %s (is `mediabot serve` running there, and is it its --ops-listen address?): %w", c.BotURL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		var ge signaling.GraphError
		if json.Unmarshal(raw, &ge) == nil {
			e.GraphErrorBody = ge.Error
		} else {
			e.Message = strings.TrimSpace(string(raw))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: the bot's reply is not JSON: %w", method, path, err)
		}
	}
	return nil
}
