package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/signaling"
)

// plan is one kind of call the churn plays: how long it lasts, who speaks,
// what Graph does wrong and how its media ends. The slots take the book's
// plans in turn.
type plan struct {
	name string
	// length is the call's duration as a multiple of -call-length: three
	// lengths at most, so that graphsim encodes each voice a bounded
	// number of times (its cache keeps every encoding).
	length float64
	phone  bool // the second participant is a phone (G.711 µ-law)
	// fault is what Graph does wrong, armed as the bot decides to answer
	// (see armer): nothing, a refused, throttled or slow answer, or a
	// hang-up Graph fails.
	fault fault
	drop  mediaDrop
}

type fault int

const (
	noFault        fault = iota
	answerRefused        // 403: the call fails
	answerThrottle       // 429 with Retry-After 1 s: the bot retries, the call goes on
	answerSlow           // Graph takes 2 s to accept the answer
	hangupFails          // the bot's DELETE gets 503 on every attempt
)

type mediaDrop int

const (
	noDrop mediaDrop = iota
	// mediaSilent: the participants stop sending after talkBeforeSilence,
	// and Graph says nothing; the bot's idle watchdog (mediaIdle) and its
	// loss grace end the call.
	mediaSilent
	// mediaClosesFirst: the media processor closes DTLS closesFirst before
	// Graph ends the call; the bot hangs up after its loss grace.
	mediaClosesFirst
)

// book is the cycle of plans: 4 in 10 calls go as planned, 2 meet a Graph
// that fails them or slows them, 1 is refused its answer, 3 lose their
// media (one of them with a hang-up Graph refuses).
var book = []plan{
	{name: "normal", length: 1},
	{name: "normal, a phone participant", length: 0.5, phone: true},
	{name: "answer throttled", length: 1, fault: answerThrottle},
	{name: "media goes silent", length: 1.5, drop: mediaSilent},
	{name: "normal", length: 0.5},
	{name: "answer refused", length: 1, fault: answerRefused},
	{name: "answer slow", length: 1, fault: answerSlow},
	{name: "media closes first", length: 1.5, drop: mediaClosesFirst},
	{name: "normal", length: 1.5},
	{name: "media goes silent, hang-up fails", length: 1.5, drop: mediaSilent, fault: hangupFails},
}

// The media drops' timing: the bot notices silence after mediaIdle (its
// watchdog looks every quarter of it) and waits call.MediaLossGrace (2 s)
// for Graph before it hangs up; a closed DTLS it notices at once. Each
// drop leaves the bot time to act before Graph would end the call.
const (
	mediaIdle         = 2 * time.Second
	talkBeforeSilence = time.Second
	closesFirst       = 3 * time.Second
	// refusedRing is how long graphsim rings a call whose answer Graph
	// refuses: the bot has given up, and Graph ends such a call soon.
	refusedRing = 3 * time.Second
)

// scenario is a call of p, the book's plan k, as graphsim's Scenario. Its
// voices are the plan's own: graphsim encodes them once for every call.
func (p plan) scenario(k int, webhook string, callLength time.Duration) graphsim.Scenario {
	sc := graphsim.Scenario{BotURL: webhook, CallID: signaling.NewGUID(),
		Duration: time.Duration(p.length * float64(callLength)).Round(20 * time.Millisecond)}
	for i := range 2 {
		v := graphsim.Cast[(2*k+i)%len(graphsim.Cast)]
		part := graphsim.Participant{DisplayName: v.Name, Voice: v.Voice}
		if p.phone && i == 1 {
			part = graphsim.Participant{Phone: fmt.Sprintf("+1425555%04d", k), Voice: v.Voice}
		}
		if p.drop == mediaSilent {
			part.Talk = []graphsim.Span{{Start: 0, End: talkBeforeSilence}}
		}
		sc.Participants = append(sc.Participants, part)
	}
	switch {
	case p.drop == mediaClosesFirst:
		sc.MediaClosesFirst = closesFirst
	case p.fault == answerRefused:
		sc.AnswerWindow = refusedRing
	}
	return sc
}

// arm tells graphsim to fail or slow the requests of call id that p's
// fault is about. A hang-up's faults name no call: every DELETE is a bot
// hanging up, and whichever comes next takes them, so none is left over
// when this call's media drop ends another way.
func (p plan) arm(sim *graphsim.Sim, id string) {
	answer := "/" + id + "/answer"
	switch p.fault {
	case answerRefused:
		sim.FailNext(http.MethodPost, answer, http.StatusForbidden, 0, 1)
	case answerThrottle:
		sim.FailNext(http.MethodPost, answer, http.StatusTooManyRequests, time.Second, 1)
	case answerSlow:
		sim.SlowNext(http.MethodPost, answer, 2*time.Second, 1)
	case hangupFails:
		sim.FailNext(http.MethodDelete, "", http.StatusServiceUnavailable, 0, 4) // the Graph client's 4 attempts
	}
}
