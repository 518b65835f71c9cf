package tap

import (
	"strconv"
	"strings"

	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// audioSubject splits mediabot.audio.{callId}.{participantId}.
func audioSubject(subject string) (call, participant string, ok bool) {
	rest, ok := strings.CutPrefix(subject, natssink.AudioSubjectPrefix)
	if !ok {
		return "", "", false
	}
	call, participant, ok = strings.Cut(rest, ".")
	return call, participant, ok && call != "" && participant != "" && !strings.Contains(participant, ".")
}

// eventSubject splits mediabot.events.{callId}.
func eventSubject(subject string) (call string, ok bool) {
	call, ok = strings.CutPrefix(subject, natssink.EventSubjectPrefix)
	return call, ok && call != "" && !strings.Contains(call, ".")
}

// eventNumber is n of an event's Nats-Msg-Id {callId}/events/{n}.
func eventNumber(msgID string) (uint64, bool) {
	i := strings.LastIndexByte(msgID, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(msgID[i+1:], 10, 64)
	return n, err == nil
}

// fileName makes a subject token usable as one path element. Tokens have
// no '.', so only separators need replacing.
func fileName(token string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, token)
}
