package call

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/signaling"
)

// roster is a call's participant registry: who is in the call, and which
// audio source id (SSRC, or CSRC when speakers rotate) is whose. Streams
// look a source up on every frame, so that map is an immutable snapshot
// behind an atomic pointer, replaced whole when the roster changes.
type roster struct {
	mu        sync.Mutex
	members   map[string]*member
	bySource  atomic.Pointer[map[uint32]*speaker]
	presenter string
}

// speaker is who an audio source id belongs to; immutable once published.
type speaker struct {
	id       string
	identity event.Identity
}

type member struct {
	id        string
	identity  event.Identity
	sourceID  string
	isMuted   bool
	inLobby   bool
	presenter bool
}

func newRoster() *roster {
	r := &roster{members: map[string]*member{}}
	r.bySource.Store(&map[uint32]*speaker{})
	return r
}

// participant names the speaker of an audio source id and who they are;
// "", nil while no roster names it.
//
// hot path: no lock, no alloc.
func (r *roster) participant(source uint32) (string, *event.Identity) {
	if sp := (*r.bySource.Load())[source]; sp != nil {
		return sp.id, &sp.identity
	}
	return "", nil
}

// name is the participant id of an audio source id, "" if none yet.
func (r *roster) name(source uint32) string {
	id, _ := r.participant(source)
	return id
}

// currentPresenter is the participant sending a screen-sharing stream, if any.
func (r *roster) currentPresenter() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.presenter
}

// snapshot is a copy of the call's current participants, in no order.
func (r *roster) snapshot() []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, *m)
	}
	return out
}

// apply takes a roster notification. With full set, participants missing
// from parts have left. It returns the participant events it implies.
func (r *roster) apply(parts []signaling.Participant, full bool, mediaMs int64) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	seen := map[string]bool{}
	sources := *r.bySource.Load()
	changed := false
	for i := range parts {
		p := &parts[i]
		if p.ID == "" {
			continue
		}
		seen[p.ID] = true
		if p.RemovedState != nil {
			if m := r.members[p.ID]; m != nil {
				out = append(out, r.leaveLocked(m, mediaMs))
			}
			continue
		}
		next := memberOf(p)
		prev := r.members[p.ID]
		r.members[p.ID] = next
		if n, err := strconv.ParseUint(next.sourceID, 10, 32); err == nil {
			if old := sources[uint32(n)]; old == nil || old.id != p.ID || old.identity != next.identity {
				if !changed {
					sources, changed = maps.Clone(sources), true
				}
				sources[uint32(n)] = &speaker{id: p.ID, identity: next.identity}
			}
		}
		switch {
		case prev == nil:
			out = append(out, memberEvent(event.ParticipantJoined, next, mediaMs))
		case prev.isMuted != next.isMuted || prev.sourceID != next.sourceID || prev.inLobby != next.inLobby:
			out = append(out, memberEvent(event.ParticipantUpdated, next, mediaMs))
		}
	}
	if full {
		for id, m := range r.members {
			if !seen[id] {
				out = append(out, r.leaveLocked(m, mediaMs))
			}
		}
	}
	if changed {
		r.bySource.Store(&sources)
	}
	r.presenter = ""
	for _, m := range r.members {
		if m.presenter {
			r.presenter = m.id
		}
	}
	return out
}

// leaveLocked removes m; its source id keeps naming it, so audio still in
// flight is attributed correctly.
func (r *roster) leaveLocked(m *member, mediaMs int64) event.Event {
	delete(r.members, m.id)
	return memberEvent(event.ParticipantLeft, m, mediaMs)
}

func memberOf(p *signaling.Participant) *member {
	m := &member{id: p.ID, isMuted: p.IsMuted, inLobby: p.IsInLobby}
	if p.Info != nil {
		m.identity = identityOf(p.Info.Identity)
	}
	for _, s := range p.MediaStreams {
		switch {
		case s.MediaType == "audio" && m.sourceID == "":
			m.sourceID = s.SourceID
		case s.MediaType == "videoBasedScreenSharing" && s.Direction == "sendOnly":
			m.presenter = true
		}
	}
	return m
}

func memberEvent(t event.Type, m *member, mediaMs int64) event.Event {
	muted := m.isMuted
	id := m.identity
	return event.Event{Type: t, MediaTimeMs: mediaMs, ParticipantID: m.id,
		Identity: &id, SourceID: m.sourceID, IsMuted: &muted}
}

// identityOf resolves Graph's identitySet to the one identity that matters.
func identityOf(set *signaling.IdentitySet) event.Identity {
	if set == nil {
		return event.Identity{Kind: event.KindGuest}
	}
	switch {
	case set.User != nil:
		return event.Identity{Kind: event.KindUser, ID: set.User.ID, DisplayName: set.User.DisplayName, TenantID: set.User.TenantID}
	case set.Phone != nil:
		return event.Identity{Kind: event.KindPhone, ID: set.Phone.ID, DisplayName: set.Phone.DisplayName, Phone: set.Phone.ID}
	case set.Application != nil:
		return event.Identity{Kind: event.KindApplication, ID: set.Application.ID, DisplayName: set.Application.DisplayName, TenantID: set.Application.TenantID}
	case set.ApplicationInstance != nil:
		return event.Identity{Kind: event.KindApplication, ID: set.ApplicationInstance.ID, DisplayName: set.ApplicationInstance.DisplayName, TenantID: set.ApplicationInstance.TenantID}
	case set.Guest != nil:
		return event.Identity{Kind: event.KindGuest, ID: set.Guest.ID, DisplayName: set.Guest.DisplayName}
	default:
		return event.Identity{Kind: event.KindGuest}
	}
}

// Participant is one member of a call's roster now.
type Participant struct {
	ID         string
	Identity   event.Identity
	Muted      bool
	Presenting bool
}

// Participants is a copy of the call's roster now, in no order.
func (c *Call) Participants() []Participant {
	members := c.roster.snapshot()
	out := make([]Participant, len(members))
	for i, m := range members {
		out[i] = Participant{ID: m.id, Identity: m.identity, Muted: m.isMuted, Presenting: m.presenter}
	}
	return out
}
