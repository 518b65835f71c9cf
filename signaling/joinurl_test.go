package signaling_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mediabot-dev/mediabot/signaling"
)

// docJoinURL is the join link of Graph's call resource page.
const docJoinURL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%224b444206-207c-42f8-92a6-e332b41c88a2%22%7d"

func TestParseJoinURLReadsThreadOrganizerAndTenant(t *testing.T) {
	m, err := signaling.ParseJoinURL(docJoinURL)
	if err != nil {
		t.Fatal(err)
	}
	if m.ChatInfo == nil || m.ChatInfo.ThreadID != "19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2" || m.ChatInfo.MessageID != "0" {
		t.Errorf("chatInfo = %+v", m.ChatInfo)
	}
	if m.OrganizerID != "4b444206-207c-42f8-92a6-e332b41c88a2" || m.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("organizer %q tenant %q", m.OrganizerID, m.TenantID)
	}
	var req signaling.CreateCallRequest
	m.Apply(&req)
	raw, _ := json.Marshal(req)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	jsonEqual(t, "meetingInfo", body["meetingInfo"], `{"@odata.type":"#microsoft.graph.organizerMeetingInfo",
		"organizer":{"@odata.type":"#microsoft.graph.identitySet","user":{"@odata.type":"#microsoft.graph.identity",
		"id":"4b444206-207c-42f8-92a6-e332b41c88a2","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"}}}`)
	jsonEqual(t, "chatInfo", body["chatInfo"], `{"@odata.type":"#microsoft.graph.chatInfo",
		"threadId":"19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2","messageId":"0"}`)
	if req.TenantID != m.TenantID {
		t.Errorf("tenantId = %q, want the link's", req.TenantID)
	}
}

func TestParseJoinURLForms(t *testing.T) {
	safe := "https://nam12.safelinks.protection.outlook.com/?url=" + url.QueryEscape(docJoinURL) + "&data=x"
	withReply := strings.Replace(docJoinURL, "%7d", "%2c%22MessageId%22%3a%221700000000000%22%7d", 1)
	for _, tc := range []struct{ name, link, thread, joinID, pass, reply string }{
		{name: "safe links", link: safe, thread: "19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2"},
		{name: "reply chain", link: withReply, thread: "19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2", reply: "1700000000000"},
		{name: "short link", link: "https://teams.microsoft.com/meet/26767859226419?p=BvHUCiXgnXUg", joinID: "26767859226419", pass: "BvHUCiXgnXUg"},
		{name: "gcc high", link: strings.Replace(docJoinURL, "teams.microsoft.com", "gov.teams.microsoft.us", 1), thread: "19:meeting_NTg0NmQ3NTctZDVkZC00YzRhLThmNmEtOGQ3M2E0ODdmZDZk@thread.v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := signaling.ParseJoinURL(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			if tc.joinID != "" {
				if m.JoinMeetingID != tc.joinID || m.Passcode != tc.pass || m.ChatInfo != nil {
					t.Errorf("link = %+v, want join id %s passcode %s", m, tc.joinID, tc.pass)
				}
				var req signaling.CreateCallRequest
				m.Apply(&req)
				if got := signaling.MeetingInfoType(req.MeetingInfo); got != signaling.ODataJoinMeetingIDMeetingInfo {
					t.Errorf("meetingInfo type %q", got)
				}
				return
			}
			if m.ChatInfo == nil || m.ChatInfo.ThreadID != tc.thread || m.ChatInfo.ReplyChainMessageID != tc.reply {
				t.Errorf("chatInfo = %+v, want thread %s reply %q", m.ChatInfo, tc.thread, tc.reply)
			}
		})
	}
}

func TestParseJoinURLSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ link, want string }{
		{"", "not an https link to Teams"},
		{"http://teams.microsoft.com/l/meetup-join/19%3ax%40thread.v2/0?context=%7b%7d", "not an https link"},
		{"https://example.com/l/meetup-join/19%3ax%40thread.v2/0", "not an https link to Teams"},
		{"https://teams.microsoft.com/l/channel/19%3ax%40thread.tacv2/General", "neither /l/meetup-join"},
		{"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0", "no context parameter"},
		{"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%22Tid%22", "context is not JSON"},
		{"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d", "Tid"},
		{"https://teams.microsoft.com/l/meetup-join/meeting_x/0?context=%7b%7d", "not a meeting thread id"},
		{"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/zero?context=%7b%7d", "message id"},
		{"https://teams.microsoft.com/meet/abc?p=x", "meeting id"},
		{"https://teams.microsoft.com/l/meetup-join/19%ZZ/0", "invalid URL escape"},
	} {
		_, err := signaling.ParseJoinURL(tc.link)
		if !errors.Is(err, signaling.ErrBadJoinURL) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseJoinURL(%q) = %v, want ErrBadJoinURL saying %q", tc.link, err, tc.want)
		}
	}
}

// FuzzParseJoinURL: any input gives a link or ErrBadJoinURL, never a
// panic, and a link that parses names exactly one meeting form.
func FuzzParseJoinURL(f *testing.F) {
	f.Add(docJoinURL)
	f.Add("https://teams.microsoft.com/meet/26767859226419?p=BvHUCiXgnXUg")
	f.Add("https://nam12.safelinks.protection.outlook.com/?url=" + url.QueryEscape(docJoinURL))
	f.Fuzz(func(t *testing.T, link string) {
		m, err := signaling.ParseJoinURL(link)
		if err != nil {
			if !errors.Is(err, signaling.ErrBadJoinURL) {
				t.Fatalf("error %v does not wrap ErrBadJoinURL", err)
			}
			return
		}
		if (m.ChatInfo == nil) == (m.JoinMeetingID == "") {
			t.Fatalf("link %+v names both or neither form", m)
		}
		if m.ChatInfo != nil && (m.OrganizerID == "" || m.TenantID == "" || m.ChatInfo.ThreadID == "") {
			t.Fatalf("long link without organizer, tenant or thread: %+v", m)
		}
	})
}
