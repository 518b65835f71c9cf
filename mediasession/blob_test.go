package mediasession

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func exampleBlob() Blob {
	return Blob{
		V:         1,
		SessionID: "b7f3c0de",
		CallID:    "57DAB8B1894C409AB240BD8BEAE78896",
		Offer:     "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
		AnswerURI: "https://bot.example.com/media/sessions/b7f3c0de/answer",
		Token:     "q83vEjRWeJq83vEjRWeJqw",
		ExpiresAt: time.Date(2026, 11, 28, 7, 0, 15, 0, time.UTC),
	}
}

func encodeJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestBlobEncodesAsUnpaddedBase64urlOfTheContractKeys(t *testing.T) {
	enc, err := exampleBlob().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(enc, "=+/") {
		t.Fatalf("blob %q is not unpadded base64url", enc)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("blob is not base64url: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("blob is not a JSON object: %v", err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"answerUri", "callId", "expiresAt", "offer", "sessionId", "token", "v"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if string(fields["v"]) != "1" {
		t.Errorf("v = %s, want 1", fields["v"])
	}
	if string(fields["expiresAt"]) != `"2026-11-28T07:00:15Z"` {
		t.Errorf("expiresAt = %s, want RFC 3339 UTC", fields["expiresAt"])
	}
}

func TestDecodeBlobRoundTripsEncode(t *testing.T) {
	want := exampleBlob()
	enc, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBlob(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeBlobAcceptsPaddedBase64url(t *testing.T) {
	want := exampleBlob()
	raw, _ := json.Marshal(want)
	for len(raw)%3 == 0 { // make sure the padded form really has padding
		want.CallID += "x"
		raw, _ = json.Marshal(want)
	}
	padded := base64.URLEncoding.EncodeToString(raw)
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("test blob %q has no padding", padded)
	}
	got, err := DecodeBlob(padded)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeBlobIgnoresUnknownFields(t *testing.T) {
	b := exampleBlob()
	obj := map[string]any{
		"v": 1, "sessionId": b.SessionID, "callId": b.CallID, "offer": b.Offer,
		"answerUri": b.AnswerURI, "token": b.Token, "expiresAt": b.ExpiresAt,
		"iceServers": []string{"turn:x"}, "future": map[string]int{"a": 1},
	}
	got, err := DecodeBlob(encodeJSON(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Errorf("got %+v, want %+v", got, b)
	}
}

func TestDecodeBlobRefusesWhatIsNotBlobV1(t *testing.T) {
	b := exampleBlob()
	with := func(change func(map[string]any)) string {
		obj := map[string]any{
			"v": 1, "sessionId": b.SessionID, "callId": b.CallID, "offer": b.Offer,
			"answerUri": b.AnswerURI, "token": b.Token, "expiresAt": b.ExpiresAt,
		}
		change(obj)
		return encodeJSON(t, obj)
	}
	tests := []struct {
		name string
		blob string
		want error
	}{
		{"version 2", with(func(m map[string]any) { m["v"] = 2 }), ErrBlobVersion},
		{"no version", with(func(m map[string]any) { delete(m, "v") }), ErrBlobVersion},
		{"not base64", "not base64 at all!", ErrBadBlob},
		{"standard base64 alphabet", "+/+/", ErrBadBlob},
		{"not JSON", base64.RawURLEncoding.EncodeToString([]byte("v=1;offer=x")), ErrBadBlob},
		{"JSON array", base64.RawURLEncoding.EncodeToString([]byte("[1]")), ErrBadBlob},
		{"empty", "", ErrBadBlob},
		{"v is a string", with(func(m map[string]any) { m["v"] = "1" }), ErrBadBlob},
		{"missing offer", with(func(m map[string]any) { delete(m, "offer") }), ErrBadBlob},
		{"missing answerUri", with(func(m map[string]any) { delete(m, "answerUri") }), ErrBadBlob},
		{"missing token", with(func(m map[string]any) { delete(m, "token") }), ErrBadBlob},
		{"empty token", with(func(m map[string]any) { m["token"] = "" }), ErrBadBlob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBlob(tt.blob)
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeBlob: %v, want %v", err, tt.want)
			}
		})
	}
}

// DecodeBlob reads what Graph relays from a media processor: it must never
// panic, and what it accepts is a v1 blob with the required fields that
// encodes back to an equal blob.
func FuzzDecodeBlob(f *testing.F) {
	enc, _ := exampleBlob().Encode()
	f.Add(enc)
	f.Add("")
	f.Add("e30")                                                               // {}
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"offer":"x"}`))) // missing fields
	f.Add(base64.URLEncoding.EncodeToString([]byte(`{"v":2}`)))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":1e400}`)))
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBlob(s)
		if err != nil {
			if !errors.Is(err, ErrBadBlob) && !errors.Is(err, ErrBlobVersion) {
				t.Fatalf("error %v is neither ErrBadBlob nor ErrBlobVersion", err)
			}
			return
		}
		if b.V != BlobVersion || b.Offer == "" || b.AnswerURI == "" || b.Token == "" {
			t.Fatalf("accepted an incomplete blob %+v", b)
		}
		again, err := b.Encode()
		if err != nil {
			t.Fatalf("accepted blob does not encode: %v", err)
		}
		if _, err := DecodeBlob(again); err != nil {
			t.Fatalf("re-encoded blob does not decode: %v", err)
		}
	})
}
