package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediabot-dev/mediabot/graphsim"
)

// redialPause is how long a slot whose call the bot refused busy waits
// before it rings the next: the bot is full until one of its calls ends.
const redialPause = time.Second

// malformed is an incoming-call notification cut short: the bot answers
// 400.
var malformed = []byte(`{"value":[{"changeType":"created","resource":"/app/calls/`)

// churn plays calls against the bot: one slot per live call, each ringing
// the book's plans one after another, and a prober that now and then
// offers the bot a call more than it admits, or a malformed notification.
type churn struct {
	sim        *graphsim.Sim
	webhook    string
	armer      *armer
	callLength time.Duration
	tally      tally
	next       atomic.Int64 // the number of the next call: its plan is book[next % len(book)]
}

// run keeps slots calls going until ctx ends, and returns once the last of
// them has ended. The slots start spread over one call length, so that
// calls start and end all the time rather than in waves.
func (c *churn) run(ctx context.Context, slots int) {
	var wg sync.WaitGroup
	for i := range slots {
		wg.Go(func() {
			if !sleep(ctx, time.Duration(i)*c.callLength/time.Duration(slots)) {
				return
			}
			for ctx.Err() == nil {
				if busy := c.play(int(c.next.Add(1) - 1)); busy {
					sleep(ctx, redialPause)
				}
			}
		})
	}
	wg.Go(func() { c.probe(ctx) })
	wg.Wait()
}

// play rings a call of the book's plan k (modulo its length) and waits for
// its end; it reports whether the bot refused it busy.
func (c *churn) play(k int) (busy bool) {
	k %= len(book)
	p := book[k]
	sc := p.scenario(k, c.webhook, c.callLength)
	c.armer.expect(sc.CallID, p)
	res, err := c.sim.PlayCall(context.Background(), sc) // a call under way is played to its end
	c.armer.forget(sc.CallID)
	return c.tally.call(p, res, err)
}

// probe, every third of a call length, rings one call more than the slots
// keep live (the bot, full, refuses it busy; when a slot is between calls
// it is answered, and that slot's next call is refused), or posts a
// malformed notification, in turn.
func (c *churn) probe(ctx context.Context) {
	for i := 0; sleep(ctx, max(c.callLength/3, time.Second)); i++ {
		if i%2 == 0 {
			c.play(shortestPlain())
			continue
		}
		status, err := c.sim.Notify(context.Background(), c.webhook, malformed)
		c.tally.badRequest(status, err)
	}
}

// shortestPlain is the place in the book of its shortest call that goes
// as planned: what the prober rings.
func shortestPlain() int {
	best := -1
	for i, p := range book {
		if p.fault == noFault && p.drop == noDrop && !p.phone && (best < 0 || p.length < book[best].length) {
			best = i
		}
	}
	return best
}

// sleep waits d, or until ctx ends; it reports whether ctx is still on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
