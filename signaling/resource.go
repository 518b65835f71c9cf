package signaling

import (
	"fmt"
	"strings"
)

// ResourceKind says what a notification's resource path points at.
type ResourceKind int

// The resource kinds. ResourceUnknown is the zero value so that a Resource
// nobody parsed is never mistaken for a call.
const (
	ResourceUnknown ResourceKind = iota
	ResourceCall
	ResourceParticipants
	ResourceParticipant
	ResourceContentSharingSession
	ResourceOperation
)

// String returns the kind's name as Graph spells the path segment.
func (k ResourceKind) String() string {
	switch k {
	case ResourceCall:
		return "call"
	case ResourceParticipants:
		return "participants"
	case ResourceParticipant:
		return "participant"
	case ResourceContentSharingSession:
		return "contentSharingSession"
	case ResourceOperation:
		return "operation"
	default:
		return "unknown"
	}
}

// Resource is a parsed resource path. CallID is always set when parsing
// succeeded, so a notification can be routed to its call even when the kind
// is not understood. SubID is the participant, content sharing session or
// operation id, empty for ResourceCall and ResourceParticipants.
type Resource struct {
	Kind   ResourceKind
	CallID string
	SubID  string
}

// ParseResource parses a notification's resourceUrl (or legacy resource):
// /communications/calls/{id} or /app/calls/{id}, optionally followed by
// /participants, /participants/{pid}, /contentSharingSessions/{sid} or
// /operations/{opId}. Segment names match case-insensitively because Graph
// varies their casing; ids are returned as sent. A leading /v1.0 or /beta, a
// scheme and host, a query and a fragment are ignored. An unrecognised tail
// gives ResourceUnknown with the call id and no error; a path without a call
// id gives an error wrapping ErrUnknownResource.
func ParseResource(path string) (Resource, error) {
	segs := pathSegments(path)
	if len(segs) > 0 && (strings.EqualFold(segs[0], "v1.0") || strings.EqualFold(segs[0], "beta")) {
		segs = segs[1:]
	}
	if len(segs) < 3 || !isCallsRoot(segs[0], segs[1]) || segs[2] == "" {
		return Resource{}, fmt.Errorf("%w: %q names no call", ErrUnknownResource, path)
	}
	r := Resource{Kind: ResourceUnknown, CallID: segs[2]}
	tail := segs[3:]
	switch {
	case len(tail) == 0:
		r.Kind = ResourceCall
	case len(tail) == 1 && strings.EqualFold(tail[0], "participants"):
		r.Kind = ResourceParticipants
	case len(tail) == 2 && tail[1] != "":
		r.SubID = tail[1]
		r.Kind = subResourceKind(tail[0])
		if r.Kind == ResourceUnknown {
			r.SubID = ""
		}
	}
	return r, nil
}

// pathSegments strips scheme, host, query and fragment and splits the path
// on "/". Inner empty segments are kept so "calls//participants" has no id.
func pathSegments(path string) []string {
	p := strings.TrimSpace(path)
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
		j := strings.IndexByte(p, '/')
		if j < 0 {
			return nil
		}
		p = p[j:]
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isCallsRoot(root, calls string) bool {
	return (strings.EqualFold(root, "communications") || strings.EqualFold(root, "app")) &&
		strings.EqualFold(calls, "calls")
}

func subResourceKind(seg string) ResourceKind {
	switch {
	case strings.EqualFold(seg, "participants"):
		return ResourceParticipant
	case strings.EqualFold(seg, "contentSharingSessions"):
		return ResourceContentSharingSession
	case strings.EqualFold(seg, "operations"):
		return ResourceOperation
	default:
		return ResourceUnknown
	}
}
