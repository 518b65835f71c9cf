package signaling

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const (
	example12CallID = "57DAB8B1894C409AB240BD8BEAE78896"
	example3CallID  = "e71f0300-9c1f-4d99-b5f4-2722e877d497"
	sharingCallID   = "421f4c00-4436-4c3a-9d9a-c4924cf98e67"
	sharingID       = "2765eb15-01f8-47c6-b12b-c32111a4a86f"
	testUserID      = "8A34A46B-3D17-4ADC-8DCE-DC4E7D572698"
)

// loadOne decodes a testdata notification body strictly (every field Graph
// sent must have a home in the wire types) and returns its single
// notification.
func loadOne(t *testing.T, name string) CommsNotification {
	t.Helper()
	var ns CommsNotifications
	if err := decodeFile(filepath.Join("testdata", name), &ns); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if ns.ODataType != ODataCommsNotifications {
		t.Errorf("%s: envelope @odata.type = %q", name, ns.ODataType)
	}
	if len(ns.Value) != 1 {
		t.Fatalf("%s: %d notifications, want 1", name, len(ns.Value))
	}
	if ns.Value[0].ODataType != ODataCommsNotification {
		t.Errorf("%s: notification @odata.type = %q", name, ns.Value[0].ODataType)
	}
	return ns.Value[0]
}

// loadCall returns the notification and its one call.
func loadCall(t *testing.T, name string) (CommsNotification, Call) {
	t.Helper()
	n := loadOne(t, name)
	calls, err := n.Calls()
	if err != nil || len(calls) != 1 {
		t.Fatalf("%s: Calls() = %d calls, %v; want 1", name, len(calls), err)
	}
	return n, calls[0]
}

type field struct {
	name      string
	got, want any
}

func checkFields(t *testing.T, fields []field) {
	t.Helper()
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s = %#v, want %#v", f.name, f.got, f.want)
		}
	}
}

func TestIncomingCallNotificationsDecode(t *testing.T) {
	t.Run("example 1 peer-to-peer, service-hosted", func(t *testing.T) {
		n, c := loadCall(t, "example1_incoming.json")
		r, err := n.Target()
		if err != nil {
			t.Fatal(err)
		}
		route := c.CallRoutes[0]
		checkFields(t, []field{
			{"changeType", n.ChangeType, "created"},
			{"resource", n.Resource, ""},
			{"resourceUrl", n.ResourceURL, "/communications/calls/" + example12CallID},
			{"target", r, Resource{ResourceCall, example12CallID, ""}},
			{"@odata.type", c.ODataType, ODataCall},
			{"@odata.id", c.ODataID, "/communications/calls/" + example12CallID},
			{"@odata.etag", c.ODataEtag, `W/"5445"`},
			{"id", c.ID, ""},
			{"state", c.State, "incoming"},
			{"direction", c.Direction, "incoming"},
			{"callRoutes", len(c.CallRoutes), 1},
			{"routingType", route.RoutingType, "lookup"},
			{"original phone", route.Original.Phone.ID, "+14258828080"},
			{"final user id", route.Final.User.ID, "29362BD4-CD58-4ED0-A206-0E4A33DBB0B6"},
			{"final user name", route.Final.User.DisplayName, "Heidi Steen"},
			{"source @odata.type", c.Source.ODataType, ""},
			{"source user id", c.Source.Identity.User.ID, testUserID},
			{"source user name", c.Source.Identity.User.DisplayName, "Test User"},
			{"source region", c.Source.Region, "westus"},
			{"source languageId", c.Source.LanguageID, "en-US"},
			{"source encrypted", c.Source.Encrypted, ""},
			{"targets", len(c.Targets), 1},
			{"target application id", c.Targets[0].Identity.Application.ID, testUserID},
			{"target application name", c.Targets[0].Identity.Application.DisplayName, "Test BOT"},
			{"target languageId", c.Targets[0].LanguageID, "en-US"},
			{"requestedModalities", len(c.RequestedModalities), 1},
			{"requestedModalities[0]", c.RequestedModalities[0], "audio"},
			{"meetingInfo", c.MeetingInfo == nil, true},
			{"applicationMetadata", c.ApplicationMetadata == nil, true},
		})
	})
	t.Run("example 2 app-hosted", func(t *testing.T) {
		n, c := loadCall(t, "example2_incoming.json")
		tg := c.Targets[0]
		checkFields(t, []field{
			{"changeType", n.ChangeType, "created"},
			{"resourceUrl", n.ResourceURL, "/communications/calls/" + example12CallID},
			{"state", c.State, "incoming"},
			{"direction", c.Direction, "incoming"},
			{"callRoutes", len(c.CallRoutes), 0},
			{"source @odata.type", c.Source.ODataType, ODataParticipantInfo},
			{"source user id", c.Source.Identity.User.ID, testUserID},
			{"source user name", c.Source.Identity.User.DisplayName, "Test User"},
			{"source region", c.Source.Region, "westus"},
			{"target @odata.type", tg.ODataType, ODataInvitationParticipantInfo},
			{"target application id", tg.Identity.Application.ID, testUserID},
			{"target application name", tg.Identity.Application.DisplayName, "Test BOT"},
			{"target region", tg.Region, "westus"},
			{"target languageId", tg.LanguageID, "en-US"},
			{"requestedModalities[0]", c.RequestedModalities[0], "audio"},
		})
	})
	t.Run("example 3 policy recording", func(t *testing.T) {
		n, c := loadCall(t, "example3_policy_incoming.json")
		r, err := n.Target()
		if err != nil {
			t.Fatal(err)
		}
		legacy, err := ParseResource(n.Resource)
		if err != nil {
			t.Fatal(err)
		}
		var meeting struct {
			ODataType string `json:"@odata.type"`
			Token     string `json:"token"`
		}
		if err := json.Unmarshal(c.MeetingInfo, &meeting); err != nil {
			t.Fatalf("meetingInfo: %v", err)
		}
		var meta struct {
			BotData struct {
				PolicyIdentifier string   `json:"policyIdentifier"`
				InviteReasons    []string `json:"inviteReasons"`
			} `json:"botData"`
		}
		if err := json.Unmarshal(c.ApplicationMetadata, &meta); err != nil {
			t.Fatalf("applicationMetadata: %v", err)
		}
		tg := c.Targets[0]
		checkFields(t, []field{
			{"changeType", n.ChangeType, "created"},
			{"resource", n.Resource, "/app/calls/" + example3CallID},
			{"resourceUrl", n.ResourceURL, "/communications/calls/" + example3CallID},
			{"target", r, Resource{ResourceCall, example3CallID, ""}},
			{"legacy target", legacy, r},
			{"id", c.ID, example3CallID},
			{"@odata.etag", c.ODataEtag, ""},
			{"state", c.State, "incoming"},
			{"direction", c.Direction, "incoming"},
			{"source id", c.Source.ID, "90fad2ce-8989-41a1-8a66-f6636e629a2a"},
			{"source identitySet type", c.Source.Identity.ODataType, ODataIdentitySet},
			{"source user type", c.Source.Identity.User.ODataType, ODataIdentity},
			{"source user id", c.Source.Identity.User.ID, testUserID},
			{"source user provider", c.Source.Identity.User.IdentityProvider, "AAD"},
			{"source endpointType", c.Source.EndpointType, "default"},
			{"source region", c.Source.Region, "amer"},
			{"target id", tg.ID, "4520a1a5-5394-5a41-aa12-9ee6fa18cfc8"},
			{"target applicationInstance", tg.Identity.ApplicationInstance.ID, "832899f8-2ea1-4604-8413-27bd2892079f"},
			{"target application", tg.Identity.Application == nil, true},
			{"target endpointType", tg.EndpointType, "default"},
			{"target null region", tg.Region, ""},
			{"target null languageId", tg.LanguageID, ""},
			{"meetingInfo type", meeting.ODataType, ODataTokenMeetingInfo},
			{"meetingInfo token", meeting.Token, "join token"},
			{"tenantId", c.TenantID, "932899f8-2ea1-4604-8413-27bd2892079f"},
			{"myParticipantId", c.MyParticipantID, "1520a1a5-5394-4a41-aa72-9ee6fa18cfc8"},
			{"callChainId", c.CallChainID, "05f2f70f-3a9c-47c1-80a9-cc79e91d8cec"},
			{"incomingContext type", c.IncomingContext.ODataType, ODataIncomingContext},
			{"sourceParticipantId", c.IncomingContext.SourceParticipantID, "30fad2ce-8989-41a1-8a66-f6636e629a2a"},
			{"observedParticipantId", c.IncomingContext.ObservedParticipantID, "30fad2ce-8989-41a1-8a66-f6636e629a2a"},
			{"botData policyIdentifier", meta.BotData.PolicyIdentifier, "Test Policy"},
			{"botData inviteReasons", len(meta.BotData.InviteReasons), 1},
		})
	})
}

func TestCallStateUpdatesDecode(t *testing.T) {
	tests := []struct {
		file  string
		state string
	}{
		{"example1_establishing.json", "establishing"},
		{"example1_established.json", "established"},
		{"example2_establishing.json", "establishing"},
		{"example2_established.json", "established"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			n, c := loadCall(t, tt.file)
			r, err := n.Target()
			if err != nil {
				t.Fatal(err)
			}
			checkFields(t, []field{
				{"changeType", n.ChangeType, "updated"},
				{"target", r, Resource{ResourceCall, example12CallID, ""}},
				{"state", c.State, tt.state},
				{"partial: direction absent", c.Direction, ""},
				{"partial: source absent", c.Source == nil, true},
				{"@odata.etag", c.ODataEtag, `W/"5445"`},
			})
		})
	}
}

func TestContentSharingNotificationsHaveNoResourceData(t *testing.T) {
	tests := []struct {
		file       string
		changeType string
	}{
		{"example2_sharing_created.json", "created"},
		{"example2_sharing_deleted.json", "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			n := loadOne(t, tt.file)
			r, err := n.Target()
			if err != nil {
				t.Fatal(err)
			}
			calls, err := n.Calls()
			if err != nil || calls != nil {
				t.Errorf("Calls() = %v, %v; want nil, nil", calls, err)
			}
			parts, delta, err := n.Participants()
			if err != nil || parts != nil || delta != nil {
				t.Errorf("Participants() = %v, %v, %v; want nils", parts, delta, err)
			}
			op, err := n.Operation()
			if err != nil || op != nil {
				t.Errorf("Operation() = %v, %v; want nil, nil", op, err)
			}
			checkFields(t, []field{
				{"changeType", n.ChangeType, tt.changeType},
				{"target", r, Resource{ResourceContentSharingSession, sharingCallID, sharingID}},
				{"resourceData", n.ResourceData == nil, true},
			})
		})
	}
}

func TestTargetFallsBackToLegacyResource(t *testing.T) {
	tests := []struct {
		name string
		n    CommsNotification
		want Resource
		err  error
	}{
		{"resourceUrl wins", CommsNotification{ResourceURL: "/communications/calls/a", Resource: "/app/calls/b"}, Resource{ResourceCall, "a", ""}, nil},
		{"legacy only", CommsNotification{Resource: "/app/calls/b/participants"}, Resource{ResourceParticipants, "b", ""}, nil},
		{"unparsable resourceUrl, legacy used", CommsNotification{ResourceURL: "/nonsense", Resource: "/app/calls/b"}, Resource{ResourceCall, "b", ""}, nil},
		{"neither", CommsNotification{}, Resource{}, ErrUnknownResource},
		{"unparsable, no legacy", CommsNotification{ResourceURL: "/nonsense"}, Resource{}, ErrUnknownResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.n.Target()
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || got != tt.want {
				t.Errorf("Target() = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestCallsAcceptsObjectOrArray(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		states []string
		err    error
	}{
		{"absent", ``, nil, nil},
		{"null", `null`, nil, nil},
		{"one object", `{"@odata.type":"#microsoft.graph.call","state":"terminated","resultInfo":{"code":"200","subcode":5001}}`, []string{"terminated"}, nil},
		{"object without type", `{"state":"terminating"}`, []string{"terminating"}, nil},
		{"array", `[{"state":"establishing"},{"state":"established"}]`, []string{"establishing", "established"}, nil},
		{"other type", `{"@odata.type":"#microsoft.graph.participant"}`, nil, ErrBadNotification},
		{"string", `"call"`, nil, ErrBadNotification},
		{"bad field type", `{"state":3}`, nil, ErrBadNotification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := CommsNotification{ResourceData: json.RawMessage(tt.data)}
			calls, err := n.Calls()
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("Calls() error = %v, want %v", err, tt.err)
			}
			if len(calls) != len(tt.states) {
				t.Fatalf("Calls() = %d calls, want %d", len(calls), len(tt.states))
			}
			for i, c := range calls {
				if c.State != tt.states[i] {
					t.Errorf("calls[%d].State = %q, want %q", i, c.State, tt.states[i])
				}
			}
		})
	}
}

const participantJSON = `{
  "@odata.type": "#microsoft.graph.participant",
  "id": "p1",
  "info": {"identity": {"user": {"id": "u1", "displayName": "Alice"}}, "endpointType": "default", "region": "amer", "languageId": "en-US"},
  "mediaStreams": [
    {"@odata.type": "#microsoft.graph.mediaStream", "mediaType": "audio", "label": "main-audio", "sourceId": "10", "direction": "sendReceive", "serverMuted": false},
    {"mediaType": "videoBasedScreenSharing", "label": "applicationsharing-video", "sourceId": "12", "direction": "sendOnly", "serverMuted": false}
  ],
  "isMuted": true,
  "isInLobby": false,
  "metadata": "m",
  "rosterSequenceNumber": 7
}`

func TestParticipantsShapes(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		ids      []string
		deltaSeq int64
		deltaIDs []string
		err      error
	}{
		{"absent", ``, nil, 0, nil, nil},
		{"full roster array", `[` + participantJSON + `,{"id":"p2","removedState":{"reason":"left"}}]`, []string{"p1", "p2"}, 0, nil, nil},
		{"empty roster", `[]`, []string{}, 0, nil, nil},
		{"single participant", participantJSON, []string{"p1"}, 0, nil, nil},
		{"untyped single participant", `{"id":"p9"}`, []string{"p9"}, 0, nil, nil},
		{"delta", `{"@odata.type":"#microsoft.graph.deltaParticipants","sequenceNumber":42,"participants":[` + participantJSON + `]}`, nil, 42, []string{"p1"}, nil},
		{"other type", `{"@odata.type":"#microsoft.graph.call"}`, nil, 0, nil, ErrBadNotification},
		{"number", `12`, nil, 0, nil, ErrBadNotification},
		{"broken array", `[{"id":1}]`, nil, 0, nil, ErrBadNotification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := CommsNotification{ResourceData: json.RawMessage(tt.data)}
			parts, delta, err := n.Participants()
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("Participants() error = %v, want %v", err, tt.err)
			}
			if len(parts) != len(tt.ids) {
				t.Fatalf("parts = %d, want %d", len(parts), len(tt.ids))
			}
			for i, p := range parts {
				if p.ID != tt.ids[i] {
					t.Errorf("parts[%d].ID = %q, want %q", i, p.ID, tt.ids[i])
				}
			}
			if (delta != nil) != (tt.deltaIDs != nil) {
				t.Fatalf("delta = %+v, want ids %v", delta, tt.deltaIDs)
			}
			if delta != nil {
				if delta.SequenceNumber != tt.deltaSeq || len(delta.Participants) != len(tt.deltaIDs) {
					t.Errorf("delta = seq %d, %d participants; want %d, %d", delta.SequenceNumber, len(delta.Participants), tt.deltaSeq, len(tt.deltaIDs))
				}
			}
		})
	}
}

func TestParticipantFieldsDecode(t *testing.T) {
	n := CommsNotification{ResourceData: json.RawMessage(participantJSON)}
	parts, _, err := n.Participants()
	if err != nil {
		t.Fatal(err)
	}
	p := parts[0]
	checkFields(t, []field{
		{"info user", p.Info.Identity.User.DisplayName, "Alice"},
		{"streams", len(p.MediaStreams), 2},
		{"audio sourceId", p.MediaStreams[0].SourceID, "10"},
		{"audio direction", p.MediaStreams[0].Direction, "sendReceive"},
		{"share mediaType", p.MediaStreams[1].MediaType, "videoBasedScreenSharing"},
		{"share direction", p.MediaStreams[1].Direction, "sendOnly"},
		{"isMuted", p.IsMuted, true},
		{"metadata", p.Metadata, "m"},
		{"rosterSequenceNumber", p.RosterSequenceNumber, int64(7)},
		{"removedState", p.RemovedState == nil, true},
	})
}

func TestOperationDecodes(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		status string
		code   Int32OrString
		err    error
	}{
		{"absent", ``, "", 0, nil},
		{"invite completed", `{"@odata.type":"#microsoft.graph.inviteParticipantsOperation","id":"op1","status":"completed","clientContext":"cc","resultInfo":{"code":200,"subcode":0,"message":"ok"}}`, "completed", 200, nil},
		{"failed with string code", `{"id":"op2","status":"failed","resultInfo":{"code":"403","subcode":"7505"}}`, "failed", 403, nil},
		{"array", `[]`, "", 0, ErrBadNotification},
		{"bad code", `{"resultInfo":{"code":"x"}}`, "", 0, ErrBadNotification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := CommsNotification{ResourceData: json.RawMessage(tt.data)}
			op, err := n.Operation()
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("Operation() error = %v, want %v", err, tt.err)
			}
			if tt.status == "" {
				if op != nil {
					t.Errorf("Operation() = %+v, want nil", op)
				}
				return
			}
			if op.Status != tt.status || op.ResultInfo.Code != tt.code {
				t.Errorf("Operation() = %+v, want status %q code %d", op, tt.status, tt.code)
			}
		})
	}
}

func FuzzDecodeNotifications(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"value":[{"changeType":"updated","resourceUrl":"/communications/calls/c/participants","resourceData":[` + participantJSON + `]}]}`))
	f.Add([]byte(`{"value":[{"changeType":"updated","resourceUrl":"/communications/calls/c/participants","resourceData":{"@odata.type":"#microsoft.graph.deltaParticipants","sequenceNumber":1,"participants":[]}}]}`))
	f.Add([]byte(`{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/c/operations/o","resourceData":{"status":"failed","resultInfo":{"code":"500"}}}]}`))
	f.Add([]byte(`{"value":[{"resourceData":{"source":"ENCRYPTED"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ns CommsNotifications
		if json.Unmarshal(body, &ns) != nil {
			return
		}
		for i := range ns.Value {
			n := &ns.Value[i]
			if _, err := n.Target(); err != nil && !errors.Is(err, ErrUnknownResource) {
				t.Fatalf("Target error not ErrUnknownResource: %v", err)
			}
			if _, err := n.Calls(); err != nil && !errors.Is(err, ErrBadNotification) {
				t.Fatalf("Calls error not ErrBadNotification: %v", err)
			}
			if _, _, err := n.Participants(); err != nil && !errors.Is(err, ErrBadNotification) {
				t.Fatalf("Participants error not ErrBadNotification: %v", err)
			}
			if _, err := n.Operation(); err != nil && !errors.Is(err, ErrBadNotification) {
				t.Fatalf("Operation error not ErrBadNotification: %v", err)
			}
		}
	})
}
