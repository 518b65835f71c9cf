package signaling

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// jsonUnmarshalStrict decodes b into v, failing on fields v has no home for,
// so testdata proves the wire types cover what Graph sends.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// jsonEqual reports whether a and b hold the same JSON value, ignoring
// formatting and key order.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestResultInfoCodeIsNumberOrString(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		code, subcode Int32OrString
		wantErr       bool
	}{
		{"numbers", `{"code":200,"subcode":5001,"message":"m"}`, 200, 5001, false},
		{"strings as in call-delete example", `{"code":"200","subcode":"5001"}`, 200, 5001, false},
		{"null leaves zero", `{"code":null,"subcode":null}`, 0, 0, false},
		{"negative", `{"code":-1}`, -1, 0, false},
		{"max int32", `{"code":2147483647}`, 2147483647, 0, false},
		{"overflow", `{"code":2147483648}`, 0, 0, true},
		{"fraction", `{"code":1.5}`, 0, 0, true},
		{"non-numeric string", `{"code":"OK"}`, 0, 0, true},
		{"empty string", `{"code":""}`, 0, 0, true},
		{"bool", `{"code":true}`, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ri ResultInfo
			err := json.Unmarshal([]byte(tt.in), &ri)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (ri.Code != tt.code || ri.Subcode != tt.subcode) {
				t.Errorf("Unmarshal(%s) = %d/%d, want %d/%d", tt.in, ri.Code, ri.Subcode, tt.code, tt.subcode)
			}
		})
	}
}

func TestResultInfoMarshalsNumbers(t *testing.T) {
	b, err := json.Marshal(ResultInfo{Code: 200, Subcode: 5001, Message: "bye"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"code":200,"subcode":5001,"message":"bye"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
}

func TestEncryptedSourceIsKept(t *testing.T) {
	const in = `{"@odata.type":"#microsoft.graph.call","state":"incoming","source":"ZW5jcnlwdGVk+/="}`
	var c Call
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Source == nil || c.Source.Encrypted != "ZW5jcnlwdGVk+/=" || c.Source.Identity != nil {
		t.Fatalf("Source = %+v, want only Encrypted set", c.Source)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, out, []byte(in)) {
		t.Errorf("Marshal = %s, want %s", out, in)
	}
}

func TestParticipantInfoObjectMarshalsAsObject(t *testing.T) {
	p := ParticipantInfo{ID: "p1", Identity: &IdentitySet{User: &Identity{ID: "u1"}}, Region: "emea"}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"p1","identity":{"user":{"id":"u1"}},"region":"emea"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back ParticipantInfo
	if err := json.Unmarshal(b, &back); err != nil || back.Identity.User.ID != "u1" || back.Encrypted != "" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestAnswerRequestMarshalsODataTypes(t *testing.T) {
	req := AnswerRequest{
		CallbackURI:        "https://bot.example/api/calls",
		AcceptedModalities: []string{"audio"},
		CallOptions: &CallOptions{
			ODataType:                           ODataIncomingCallOptions,
			IsContentSharingNotificationEnabled: true,
			IsDeltaRosterEnabled:                true,
		},
		MediaConfig: MediaConfig{ODataType: ODataAppHostedMediaConfig, Blob: "{}"},
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"callbackUri":"https://bot.example/api/calls","acceptedModalities":["audio"],` +
		`"callOptions":{"@odata.type":"#microsoft.graph.incomingCallOptions","isContentSharingNotificationEnabled":true,"isDeltaRosterEnabled":true},` +
		`"mediaConfig":{"@odata.type":"#microsoft.graph.appHostedMediaConfig","blob":"{}"}}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
}

func TestAnswerRequestExamplesRoundTrip(t *testing.T) {
	tests := []struct {
		file      string
		mediaType string
	}{
		{"answer_request_example.json", ODataAppHostedMediaConfig},
		{"example1_answer.json", ODataServiceHostedMediaConfig},
		{"example2_answer.json", ODataAppHostedMediaConfig},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var req AnswerRequest
			if err := jsonUnmarshalStrict(in, &req); err != nil {
				t.Fatal(err)
			}
			if req.MediaConfig.ODataType != tt.mediaType {
				t.Errorf("mediaConfig @odata.type = %q, want %q", req.MediaConfig.ODataType, tt.mediaType)
			}
			out, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, in, out) {
				t.Errorf("round trip changed the body:\n%s\nwant\n%s", out, in)
			}
		})
	}
}

func TestGenericAnswerExampleFields(t *testing.T) {
	var req AnswerRequest
	if err := decodeFile("testdata/answer_request_example.json", &req); err != nil {
		t.Fatal(err)
	}
	checkFields(t, []field{
		{"callbackUri", req.CallbackURI, "callbackUri-value"},
		{"blob", req.MediaConfig.Blob, "<Media Session Configuration Blob>"},
		{"acceptedModalities[0]", req.AcceptedModalities[0], "audio"},
		{"callOptions type", req.CallOptions.ODataType, ODataIncomingCallOptions},
		{"content sharing", req.CallOptions.IsContentSharingNotificationEnabled, true},
		{"delta roster", req.CallOptions.IsDeltaRosterEnabled, true},
		{"interactive roster", req.CallOptions.IsInteractiveRosterEnabled, false},
		{"participantCapacity", req.ParticipantCapacity, 200},
	})
	var svc AnswerRequest
	if err := decodeFile("testdata/example1_answer.json", &svc); err != nil {
		t.Fatal(err)
	}
	checkFields(t, []field{
		{"preFetchMedia", len(svc.MediaConfig.PreFetchMedia), 2},
		{"preFetchMedia[1].uri", svc.MediaConfig.PreFetchMedia[1].URI, "https://cdn.contoso.com/cool.wav"},
		{"preFetchMedia[1].resourceId", svc.MediaConfig.PreFetchMedia[1].ResourceID, "1D6DE2D4-CD51-4309-8DAA-70768651088F"},
		{"callOptions", svc.CallOptions == nil, true},
	})
}

// Graphsim sends these same types, so encoding what we decoded must give
// back Graph's documented bodies. Example 3 is left out: its explicit
// "region":null is, by design, dropped on encode.
func TestNotificationExamplesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/example*.json")
	for _, name := range files {
		if strings.Contains(name, "answer") || strings.Contains(name, "example3") {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			in, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var ns CommsNotifications
			if err := jsonUnmarshalStrict(in, &ns); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(ns)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, in, out) {
				t.Errorf("round trip changed the body:\n%s\nwant\n%s", out, in)
			}
		})
	}
}

func TestRejectRequestMarshals(t *testing.T) {
	tests := []struct {
		req  RejectRequest
		want string
	}{
		{RejectRequest{Reason: "busy"}, `{"reason":"busy"}`},
		{RejectRequest{Reason: "none", CallbackURI: "https://bot.example/cb"}, `{"reason":"none","callbackUri":"https://bot.example/cb"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.req)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.req, b, err, tt.want)
		}
	}
}

func TestGraphErrorDecodes(t *testing.T) {
	const in = `{"error":{"code":"8502","message":"Call not found","innerError":{"date":"2024-01-01T00:00:00","request-id":"r1","client-request-id":"c1"}}}`
	var ge GraphError
	if err := jsonUnmarshalStrict([]byte(in), &ge); err != nil {
		t.Fatal(err)
	}
	checkFields(t, []field{
		{"code", ge.Error.Code, "8502"},
		{"message", ge.Error.Message, "Call not found"},
		{"request-id", ge.Error.InnerError.RequestID, "r1"},
		{"client-request-id", ge.Error.InnerError.ClientRequestID, "c1"},
		{"date", ge.Error.InnerError.Date, "2024-01-01T00:00:00"},
	})
}
