package graphsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Meeting is a scheduled Teams meeting graphsim hosts: the bot joins it by
// its join link (chatInfo and an organizerMeetingInfo) or by its join
// meeting id and passcode (a joinMeetingIdMeetingInfo). Wait returns each
// join's result.
type Meeting struct {
	*Destination
	// JoinURL is the long join link,
	// https://teams.microsoft.com/l/meetup-join/{thread}/0?context={"Tid":…,"Oid":…}
	// with the thread and context URL-escaped; signaling.ParseJoinURL reads
	// it back into ThreadID, OrganizerID and TenantID (when TenantID is a
	// GUID, as a real tenant id is).
	JoinURL string
	// ShortURL is the short link, https://teams.microsoft.com/meet/{JoinMeetingID}?p={Passcode}.
	ShortURL string
	// ThreadID is the meeting chat's thread, 19:meeting_…@thread.v2.
	ThreadID string
	// OrganizerID is the organizer's user id (a GUID); TenantID is the
	// organizer's tenant.
	OrganizerID, TenantID string
	// JoinMeetingID (14 digits) and Passcode are what the invitation shows
	// for joining by id.
	JoinMeetingID, Passcode string
}

// AddMeeting registers a new meeting the bot can join, with a random
// thread id, organizer, 14-digit join meeting id and passcode, in the
// tenant of Config.TenantID. The Callee's participants are in the meeting
// (none: nobody speaks) and its Lobby holds the bot before admitting it.
func (s *Sim) AddMeeting(c Callee) *Meeting {
	m := &Meeting{
		Destination:   newDestination(c),
		ThreadID:      "19:meeting_" + base64.RawURLEncoding.EncodeToString([]byte(signaling.NewGUID())) + "@thread.v2",
		OrganizerID:   signaling.NewGUID(),
		TenantID:      s.cfg.TenantID,
		JoinMeetingID: randomDigits(14),
		Passcode:      randomPasscode(6),
	}
	m.meeting = m
	ctx, _ := json.Marshal(struct{ Tid, Oid string }{m.TenantID, m.OrganizerID}) // in a real link's order
	m.JoinURL = "https://teams.microsoft.com/l/meetup-join/" + url.QueryEscape(m.ThreadID) + "/0?context=" + url.QueryEscape(string(ctx))
	m.ShortURL = "https://teams.microsoft.com/meet/" + m.JoinMeetingID + "?p=" + url.QueryEscape(m.Passcode)
	s.dir.mu.Lock()
	defer s.dir.mu.Unlock()
	s.dir.byThread[m.ThreadID+"/"+m.OrganizerID] = m
	s.dir.byJoinID[m.JoinMeetingID] = m
	return m
}

// randomDigits is n random decimal digits, the first not 0.
func randomDigits(n int) string {
	return randomFrom("123456789", 1) + randomFrom("0123456789", n-1)
}

// randomPasscode is n random letters and digits, as Teams passcodes are.
func randomPasscode(n int) string {
	return randomFrom("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", n)
}

func randomFrom(alphabet string, n int) string {
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}
