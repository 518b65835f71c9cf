package mediabot

import (
	"slices"
	"strings"
	"time"

	"github.com/mediabot-dev/mediabot/internal/call"
)

// Status is what GET /status.json answers: this instance's calls, who
// is in them, who speaks and who shares, for the status page and for an
// operator's scripts. Fields may be added; none removed.
type Status struct {
	Instance string `json:"instance"`
	Draining bool   `json:"draining"`
	// Load is the measured load level, as load.state events name it:
	// normal, heavy or overloaded.
	Load  string       `json:"load"`
	Calls []CallStatus `json:"calls"`
}

// CallStatus is one live call in a Status.
type CallStatus struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Direction is incoming (answered) or outgoing (placed by the bot).
	Direction string `json:"direction"`
	// InLobby: a meeting's lobby holds the bot until someone admits it.
	InLobby bool `json:"inLobby"`
	// MediaSeconds is the call's media clock now (0 before media connects).
	MediaSeconds float64             `json:"mediaSeconds"`
	Participants []ParticipantStatus `json:"participants"`
	// SharingActive is the number of content-sharing sessions open now.
	SharingActive int `json:"sharingActive"`
}

// ParticipantStatus is one roster member of a live call.
type ParticipantStatus struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Kind        string `json:"kind"` // user, application, phone, guest
	Muted       bool   `json:"muted"`
	// Speaking is true while the speech detector finds the participant in
	// a stretch of speech (the same stretches as speech.started and
	// speech.ended).
	Speaking bool `json:"speaking"`
	// LevelDBFS is the RMS level of the participant's latest frame; -100
	// without recent audio.
	LevelDBFS  float64 `json:"levelDbfs"`
	Presenting bool    `json:"presenting"`
}

// silenceDBFS is the level a participant without recent audio shows: the
// dBFS of one LSB is about -90, and JSON has no -Inf.
const silenceDBFS = -100.0

// Status describes the bot now: its calls, who is in them, who speaks and
// who shares, and its load.
func (b *Bot) Status() Status {
	held := b.calls.Held()
	slices.SortFunc(held, func(x, y *call.Call) int { return strings.Compare(x.ID(), y.ID()) })
	now := time.Now()
	st := Status{Instance: b.cfg.InstanceID, Draining: b.draining.Load(), Load: b.currentLoad().Level.String(), Calls: make([]CallStatus, 0, len(held))}
	for _, c := range held {
		st.Calls = append(st.Calls, callStatus(c, b.speech.Levels(c.ID(), now), b.speech.Speaking(c.ID())))
	}
	return st
}

// callStatus describes c, with its participants' levels and who of them
// speaks, by id.
func callStatus(c *call.Call, heard map[string]float64, speaking map[string]bool) CallStatus {
	cs := CallStatus{ID: c.ID(), State: c.State(), Direction: c.Direction(), InLobby: c.InLobby(),
		MediaSeconds: float64(c.MediaNow()) / 1000, SharingActive: c.SharingActive()}
	parts := c.Participants()
	cs.Participants = make([]ParticipantStatus, 0, len(parts))
	for _, p := range parts {
		ps := ParticipantStatus{ID: p.ID, DisplayName: p.Identity.DisplayName, Kind: string(p.Identity.Kind),
			Muted: p.Muted, LevelDBFS: silenceDBFS, Presenting: p.Presenting, Speaking: speaking[p.ID]}
		if l, ok := heard[p.ID]; ok {
			ps.LevelDBFS = max(l, silenceDBFS)
		}
		cs.Participants = append(cs.Participants, ps)
	}
	slices.SortFunc(cs.Participants, func(x, y ParticipantStatus) int {
		if d := strings.Compare(x.DisplayName, y.DisplayName); d != 0 {
			return d
		}
		return strings.Compare(x.ID, y.ID)
	})
	return cs
}
