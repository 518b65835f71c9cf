package main

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
)

// maxExamples is how many unexpected outcomes the table quotes.
const maxExamples = 5

// tally counts the churn's calls by how they went, as graphsim saw them.
// It is safe for concurrent use.
type tally struct {
	mu sync.Mutex
	n  counts
}

// counts are the churn's calls by outcome.
type counts struct {
	offered  int // incoming-call notifications graphsim sent
	answered int
	// completed went to their scheduled end; recovered of them had their
	// answer throttled or slowed by Graph first.
	completed, recovered int
	failed               int // Graph refused the answer: the call never came up
	refusedBusy          int // the bot was full
	refusedBad           int // malformed notifications, refused 400
	// dropped lost their media; the bot hung up hungUp of them, Graph
	// ended the others first.
	dropped, hungUp int
	unexpected      int
	examples        []string
	packetsSent     int // by graphsim's participants, in every call
	// ended are the times calls ended, the last remembered's worth.
	ended []time.Time
}

// call counts one call of plan p that graphsim played, and reports whether
// the bot refused it busy.
func (t *tally) call(p plan, res *graphsim.CallResult, err error) (busy bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n.offered++
	t.n.ended = append(t.n.ended, time.Now()) // the bot made a call of it, as graphsim rang
	for len(t.n.ended) > 0 && time.Since(t.n.ended[0]) > remembered {
		t.n.ended = t.n.ended[1:]
	}
	if res == nil {
		t.unexpect(p, err)
		return false
	}
	for _, n := range res.PacketsSent {
		t.n.packetsSent += n
	}
	if res.AnswerLatency > 0 {
		t.n.answered++
	}
	switch {
	case res.Rejected == "busy":
		t.n.refusedBusy++
		return true
	case p.fault == answerRefused && errors.Is(err, graphsim.ErrNotAnswered):
		t.n.failed++
	case err != nil:
		t.unexpect(p, err)
	case res.Rejected != "" || res.Redirected != nil:
		t.unexpect(p, fmt.Errorf("rejected %q, redirected to %d", res.Rejected, len(res.Redirected)))
	case p.drop != noDrop:
		t.n.dropped++
		if res.EndedByBot {
			t.n.hungUp++
		}
	case res.EndedByBot:
		t.unexpect(p, errors.New("the bot hung up a call whose media was fine"))
	default:
		t.n.completed++
		if p.fault == answerThrottle || p.fault == answerSlow {
			t.n.recovered++
		}
	}
	return false
}

// badRequest counts a malformed notification the bot answered status.
func (t *tally) badRequest(status int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && status == 400 {
		t.n.refusedBad++
		return
	}
	t.unexpect(plan{name: "malformed notification"}, fmt.Errorf("answered %d (want 400), err %v", status, err))
}

func (t *tally) unexpect(p plan, err error) {
	t.n.unexpected++
	if len(t.n.examples) < maxExamples {
		t.n.examples = append(t.n.examples, fmt.Sprintf("%s: %v", p.name, err))
	}
}

// snapshot is the counts so far.
func (t *tally) snapshot() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.n
	c.examples, c.ended = slices.Clone(c.examples), slices.Clone(c.ended)
	return c
}

// remembered is how many of the calls the bot still remembers: those that
// ended within remembered of the last (the bot lets go of older ones as
// another call ends).
func (n counts) remembered() int {
	if len(n.ended) == 0 {
		return 0
	}
	last := n.ended[len(n.ended)-1]
	k := 0
	for _, e := range n.ended {
		if last.Sub(e) <= remembered {
			k++
		}
	}
	return k
}
