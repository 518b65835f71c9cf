package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadJoinURL is wrapped by every failure to read a Teams join link.
var ErrBadJoinURL = errors.New("signaling: not a Teams meeting join link")

// teamsHosts are the Teams web hosts of the clouds Graph serves.
var teamsHosts = map[string]bool{
	"teams.microsoft.com":      true,
	"teams.microsoft.us":       true,
	"gov.teams.microsoft.us":   true,
	"dod.teams.microsoft.us":   true,
	"teams.microsoftonline.cn": true,
}

// MeetingLink is a Teams meeting as its join link names it. The long link
// (/l/meetup-join/{thread}/{message}?context={"Tid","Oid"}) gives the
// meeting's chat thread, its organizer and the organizer's tenant; the
// short link (/meet/{id}?p={passcode}) gives the join meeting id and
// passcode. Exactly one of ChatInfo and JoinMeetingID is set.
type MeetingLink struct {
	ChatInfo      *ChatInfo
	OrganizerID   string
	TenantID      string
	JoinMeetingID string
	Passcode      string
}

// meetingContext is the JSON in a long link's context parameter.
type meetingContext struct {
	Tid       string `json:"Tid"`
	Oid       string `json:"Oid"`
	MessageID string `json:"MessageId"`
}

// ParseJoinURL reads a Teams join link, as Microsoft's calling samples do.
// A link wrapped by Outlook's Safe Links is unwrapped first. The error
// says what is wrong with the link (wrapping ErrBadJoinURL).
func ParseJoinURL(raw string) (MeetingLink, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return MeetingLink{}, fmt.Errorf("%w: %v", ErrBadJoinURL, err)
	}
	if strings.HasSuffix(u.Hostname(), ".safelinks.protection.outlook.com") {
		if inner := u.Query().Get("url"); inner != "" {
			if u, err = url.Parse(inner); err != nil {
				return MeetingLink{}, fmt.Errorf("%w: the Safe Links target: %v", ErrBadJoinURL, err)
			}
		}
	}
	if u.Scheme != "https" || !teamsHosts[strings.ToLower(u.Hostname())] {
		return MeetingLink{}, fmt.Errorf("%w: %q is not an https link to Teams (teams.microsoft.com)", ErrBadJoinURL, u.Scheme+"://"+u.Host)
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	switch {
	case len(segs) == 4 && segs[0] == "l" && segs[1] == "meetup-join":
		return parseMeetupJoin(u, segs[2], segs[3])
	case len(segs) == 2 && segs[0] == "meet":
		return parseShortLink(u, segs[1])
	}
	return MeetingLink{}, fmt.Errorf("%w: path %q is neither /l/meetup-join/{thread}/{message} nor /meet/{id}", ErrBadJoinURL, u.Path)
}

func parseMeetupJoin(u *url.URL, threadSeg, messageSeg string) (MeetingLink, error) {
	thread, err1 := url.PathUnescape(threadSeg)
	message, err2 := url.PathUnescape(messageSeg)
	if err := errors.Join(err1, err2); err != nil {
		return MeetingLink{}, fmt.Errorf("%w: %v", ErrBadJoinURL, err)
	}
	if !strings.HasPrefix(thread, "19:") || !strings.Contains(thread, "@thread.") {
		return MeetingLink{}, fmt.Errorf("%w: %q is not a meeting thread id (19:…@thread.v2)", ErrBadJoinURL, thread)
	}
	if message == "" || strings.Trim(message, "0123456789") != "" {
		return MeetingLink{}, fmt.Errorf("%w: message id %q is not a number", ErrBadJoinURL, message)
	}
	rawCtx := u.Query().Get("context")
	if rawCtx == "" {
		return MeetingLink{}, fmt.Errorf("%w: no context parameter (it names the organizer and tenant): was the link cut short?", ErrBadJoinURL)
	}
	var mc meetingContext
	if err := json.Unmarshal([]byte(rawCtx), &mc); err != nil {
		return MeetingLink{}, fmt.Errorf("%w: context is not JSON: %v", ErrBadJoinURL, err)
	}
	if !IsGUID(mc.Tid) || !IsGUID(mc.Oid) {
		return MeetingLink{}, fmt.Errorf("%w: context needs the tenant (Tid) and organizer (Oid) as GUIDs, got Tid %q, Oid %q", ErrBadJoinURL, mc.Tid, mc.Oid)
	}
	return MeetingLink{
		ChatInfo:    &ChatInfo{ODataType: ODataChatInfo, ThreadID: thread, MessageID: message, ReplyChainMessageID: mc.MessageID},
		OrganizerID: mc.Oid, TenantID: mc.Tid,
	}, nil
}

func parseShortLink(u *url.URL, id string) (MeetingLink, error) {
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return MeetingLink{}, fmt.Errorf("%w: meeting id %q is not a number", ErrBadJoinURL, id)
	}
	return MeetingLink{JoinMeetingID: id, Passcode: u.Query().Get("p")}, nil
}

// Apply points a call request at the meeting: chatInfo and an
// organizerMeetingInfo for a long link, a joinMeetingIdMeetingInfo for a
// short one. The link's tenant becomes the request's when it has none.
func (m MeetingLink) Apply(req *CreateCallRequest) {
	if m.JoinMeetingID != "" {
		req.MeetingInfo = MeetingInfoJSON(JoinMeetingIDMeetingInfo{ODataType: ODataJoinMeetingIDMeetingInfo, JoinMeetingID: m.JoinMeetingID, Passcode: m.Passcode})
		return
	}
	req.ChatInfo = m.ChatInfo
	req.MeetingInfo = MeetingInfoJSON(OrganizerMeetingInfo{ODataType: ODataOrganizerMeetingInfo,
		Organizer: &IdentitySet{ODataType: ODataIdentitySet, User: &Identity{ODataType: ODataIdentity, ID: m.OrganizerID, TenantID: m.TenantID}}})
	if req.TenantID == "" {
		req.TenantID = m.TenantID
	}
}

// IsGUID reports whether s has the 8-4-4-4-12 hex shape of a GUID.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}
