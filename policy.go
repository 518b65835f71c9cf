package mediabot

import (
	"strings"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Action is what the bot does with an incoming call.
type Action int

// The actions an AnswerPolicy can choose.
const (
	// Answer takes the call with this bot's media.
	Answer Action = iota
	// Reject declines it with Decision.Reason (busy, forbidden or none).
	Reject
	// AnswerServiceHosted takes the call with Graph's own media
	// (serviceHostedMediaConfig): no audio reaches this bot, only the
	// call's notifications. Decision.PreFetchMedia lists prompts to fetch.
	AnswerServiceHosted
	// Redirect sends the call on to Decision.Targets (more than one rings
	// them at once); Graph then ends it for this bot.
	Redirect
)

// IncomingCall is what a policy decides on.
type IncomingCall struct {
	// Call is the incoming call as Graph sent it.
	Call signaling.Call
	// TenantID is the call's tenant (from the call, else the token).
	TenantID string
	// LiveCalls is the number of calls this instance holds now.
	LiveCalls int
	// Load is the instance's measured load.
	Load LoadState
}

// Decision is a policy's answer.
type Decision struct {
	Action Action
	// Reason is the reject reason: busy, forbidden or none.
	Reason string
	// PreFetchMedia are the prompts Graph fetches for a service-hosted answer.
	PreFetchMedia []signaling.MediaInfo
	// Targets are where a Redirect sends the call.
	Targets []signaling.InvitationParticipantInfo
}

// AnswerPolicy decides, inside the answer window, what to do with an
// incoming call. It must return quickly: the window is 15 s in all.
type AnswerPolicy func(IncomingCall) Decision

// DefaultPolicy answers every call while fewer than maxCalls are live (0 =
// no limit) and the instance is not overloaded; the rest are redirected to
// redirectTargets when there are some, else rejected busy.
func DefaultPolicy(maxCalls int, redirectTargets ...signaling.InvitationParticipantInfo) AnswerPolicy {
	return func(in IncomingCall) Decision {
		if maxCalls > 0 && in.LiveCalls >= maxCalls || in.Load.Level == LoadOverloaded {
			if len(redirectTargets) > 0 {
				return Decision{Action: Redirect, Targets: redirectTargets}
			}
			return Decision{Action: Reject, Reason: "busy"}
		}
		return Decision{Action: Answer}
	}
}

// ParseTargets turns --redirect-targets entries into Graph call targets: an
// entry starting with "+" is a phone number (E.164), anything else a Teams
// user's object id in tenant.
func ParseTargets(entries []string, tenant string) []signaling.InvitationParticipantInfo {
	var out []signaling.InvitationParticipantInfo
	for _, e := range entries {
		if strings.HasPrefix(e, "+") {
			out = append(out, signaling.PhoneTarget(e))
		} else {
			out = append(out, signaling.UserTarget(e, tenant))
		}
	}
	return out
}
