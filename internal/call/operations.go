package call

import (
	"context"
	"fmt"
	"sync"

	"github.com/mediabot-dev/mediabot/signaling"
)

// maxDoneOperations bounds the finished operations a call remembers for a
// waiter that registers after Graph's notification already came.
const maxDoneOperations = 64

// operations tracks a call's commsOperations to their completion
// notifications: Graph answers an action with a running operation and
// reports its end later on the callback.
type operations struct {
	mu      sync.Mutex
	waiting map[string]chan *signaling.CommsOperation
	done    map[string]*signaling.CommsOperation
}

func newOperations() *operations {
	return &operations{waiting: map[string]chan *signaling.CommsOperation{}, done: map[string]*signaling.CommsOperation{}}
}

// finished takes an operation notification; only final states count.
func (o *operations) finished(op *signaling.CommsOperation) {
	if op.Status != "completed" && op.Status != "failed" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch := o.waiting[op.ID]; ch != nil {
		ch <- op
		delete(o.waiting, op.ID)
		return
	}
	if len(o.done) >= maxDoneOperations {
		clear(o.done)
	}
	o.done[op.ID] = op
}

// take returns the operation id's final state if its notification came
// and nobody waited for it, forgetting it; nil otherwise.
func (o *operations) take(id string) *signaling.CommsOperation {
	o.mu.Lock()
	defer o.mu.Unlock()
	op := o.done[id]
	delete(o.done, id)
	return op
}

// wait returns the operation once it is final: at once when Graph's reply
// already was, else when its notification comes, or ctx ends.
func (o *operations) wait(ctx context.Context, op *signaling.CommsOperation) (*signaling.CommsOperation, error) {
	if op == nil || op.ID == "" || op.Status == "completed" || op.Status == "failed" {
		return op, nil
	}
	o.mu.Lock()
	if d := o.done[op.ID]; d != nil {
		delete(o.done, op.ID)
		o.mu.Unlock()
		return d, nil
	}
	ch := make(chan *signaling.CommsOperation, 1)
	o.waiting[op.ID] = ch
	o.mu.Unlock()
	select {
	case d := <-ch:
		return d, nil
	case <-ctx.Done():
		o.mu.Lock()
		delete(o.waiting, op.ID)
		o.mu.Unlock()
		return op, fmt.Errorf("operation %s still %s: %w", op.ID, op.Status, ctx.Err())
	}
}

// Operation waits for an operation Graph returned for an action on the
// call (invite, transfer) to be final: at once when Graph's reply already
// was, else when its notification comes, or ctx ends.
func (c *Call) Operation(ctx context.Context, op *signaling.CommsOperation) (*signaling.CommsOperation, error) {
	return c.ops.wait(ctx, op)
}
