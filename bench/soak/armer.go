package main

import (
	"sync"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/graphsim"
)

// armer arms each call's Graph faults from inside the bot's answer policy,
// once the bot has decided to answer: graphsim keeps an injected fault
// until a request takes it, and a call refused busy would leave its own
// behind for good.
type armer struct {
	sim    *graphsim.Sim
	decide mediabot.AnswerPolicy

	mu    sync.Mutex
	plans map[string]plan // by call id: calls rung, not yet decided
}

func newArmer(sim *graphsim.Sim, decide mediabot.AnswerPolicy) *armer {
	return &armer{sim: sim, decide: decide, plans: map[string]plan{}}
}

// expect notes the plan of a call about to ring.
func (a *armer) expect(id string, p plan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.plans[id] = p
}

// forget drops a call the bot never decided on (its notification refused).
func (a *armer) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.plans, id)
}

// policy is the bot's answer policy: the usual decision, and the call's
// faults armed when it is an answer.
func (a *armer) policy(in mediabot.IncomingCall) mediabot.Decision {
	d := a.decide(in)
	a.mu.Lock()
	p, ok := a.plans[in.Call.ID]
	delete(a.plans, in.Call.ID)
	a.mu.Unlock()
	if ok && d.Action == mediabot.Answer {
		p.arm(a.sim, in.Call.ID)
	}
	return d
}
