package signaling

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseResource(t *testing.T) {
	const id = "57DAB8B1894C409AB240BD8BEAE78896"
	tests := []struct {
		name string
		path string
		want Resource
	}{
		{"communications call", "/communications/calls/" + id, Resource{ResourceCall, id, ""}},
		{"legacy app call", "/app/calls/" + id, Resource{ResourceCall, id, ""}},
		{"trailing slash ignored", "/communications/calls/" + id + "/", Resource{ResourceCall, id, ""}},
		{"no leading slash", "communications/calls/" + id, Resource{ResourceCall, id, ""}},
		{"v1.0 prefix", "/v1.0/communications/calls/" + id, Resource{ResourceCall, id, ""}},
		{"beta prefix", "/beta/communications/calls/" + id, Resource{ResourceCall, id, ""}},
		{"full graph URL", "https://graph.microsoft.com/v1.0/communications/calls/" + id, Resource{ResourceCall, id, ""}},
		{"query and fragment ignored", "/communications/calls/" + id + "?x=1#y", Resource{ResourceCall, id, ""}},
		{"roster", "/communications/calls/" + id + "/participants", Resource{ResourceParticipants, id, ""}},
		{"legacy roster", "/app/calls/" + id + "/participants", Resource{ResourceParticipants, id, ""}},
		{"one participant", "/communications/calls/" + id + "/participants/p1", Resource{ResourceParticipant, id, "p1"}},
		{"content sharing lowercase", "/communications/calls/c1/contentsharingsessions/s1", Resource{ResourceContentSharingSession, "c1", "s1"}},
		{"content sharing camelCase", "/communications/calls/c1/contentSharingSessions/s1", Resource{ResourceContentSharingSession, "c1", "s1"}},
		{"segment names any case", "/Communications/CALLS/c1/Participants", Resource{ResourceParticipants, "c1", ""}},
		{"ids keep their case", "/communications/calls/AbC/participants/DeF", Resource{ResourceParticipant, "AbC", "DeF"}},
		{"operation", "/communications/calls/c1/operations/op1", Resource{ResourceOperation, "c1", "op1"}},
		{"unknown tail keeps call id", "/communications/calls/c1/audioRoutingGroups/g1", Resource{ResourceUnknown, "c1", ""}},
		{"too deep is unknown", "/communications/calls/c1/participants/p1/extra", Resource{ResourceUnknown, "c1", ""}},
		{"trailing slashes after roster ignored", "/communications/calls/c1/participants//", Resource{ResourceParticipants, "c1", ""}},
		{"collection without id is unknown", "/communications/calls/c1/operations", Resource{ResourceUnknown, "c1", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource(tt.path)
			if err != nil {
				t.Fatalf("ParseResource(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Errorf("ParseResource(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseResourceWithoutCallIDFails(t *testing.T) {
	for _, path := range []string{
		"",
		"/",
		"/communications/calls",
		"/communications/calls/",
		"/communications/calls//participants",
		"/communications/onlineMeetings/m1",
		"/users/u1/calls/c1",
		"https://graph.microsoft.com",
		"/v1.0",
	} {
		t.Run(path, func(t *testing.T) {
			r, err := ParseResource(path)
			if !errors.Is(err, ErrUnknownResource) {
				t.Fatalf("ParseResource(%q) = %+v, %v; want ErrUnknownResource", path, r, err)
			}
		})
	}
}

func TestResourceKindString(t *testing.T) {
	want := map[ResourceKind]string{
		ResourceUnknown:               "unknown",
		ResourceCall:                  "call",
		ResourceParticipants:          "participants",
		ResourceParticipant:           "participant",
		ResourceContentSharingSession: "contentSharingSession",
		ResourceOperation:             "operation",
		ResourceKind(99):              "unknown",
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("ResourceKind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
}

func FuzzParseResource(f *testing.F) {
	for _, s := range []string{
		"/communications/calls/c1",
		"/app/calls/c1/participants",
		"/communications/calls/c1/contentsharingsessions/s1",
		"https://graph.microsoft.com/beta/communications/calls/c1/operations/o1?x#y",
		"://", "/v1.0/", "calls//",
	} {
		f.Add(s)
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		var ns CommsNotifications
		if decodeFile(name, &ns) != nil {
			continue
		}
		for _, n := range ns.Value {
			f.Add(n.ResourceURL)
			f.Add(n.Resource)
		}
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := ParseResource(path)
		if err != nil {
			if !errors.Is(err, ErrUnknownResource) || r != (Resource{}) {
				t.Fatalf("ParseResource(%q) = %+v, %v", path, r, err)
			}
			return
		}
		if r.CallID == "" {
			t.Fatalf("ParseResource(%q) succeeded without a call id: %+v", path, r)
		}
		if (r.Kind == ResourceCall || r.Kind == ResourceParticipants || r.Kind == ResourceUnknown) != (r.SubID == "") {
			t.Fatalf("ParseResource(%q) = %+v: SubID does not match kind", path, r)
		}
	})
}

func decodeFile(name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	return jsonUnmarshalStrict(b, v)
}
