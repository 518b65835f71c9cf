package mediabot

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

// Invite asks Graph to bring participants (Teams users, phone numbers:
// signaling.UserTarget, signaling.PhoneTarget) into a live call, and
// returns the operation once Graph reports it final (or ctx ends).
func (b *Bot) Invite(ctx context.Context, callID string, targets ...signaling.InvitationParticipantInfo) (*signaling.CommsOperation, error) {
	c := b.live(callID)
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCall, callID)
	}
	op, err := b.graph.InviteParticipants(ctx, c.tenant, callID, signaling.InviteParticipantsRequest{Participants: targets, ClientContext: callID})
	if err != nil {
		return nil, err
	}
	return c.ops.wait(ctx, op)
}

// Transfer asks Graph to transfer a live call to target; Graph then ends
// the call for this bot.
func (b *Bot) Transfer(ctx context.Context, callID string, target signaling.InvitationParticipantInfo) (*signaling.CommsOperation, error) {
	c := b.live(callID)
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCall, callID)
	}
	op, err := b.graph.Transfer(ctx, c.tenant, callID, signaling.TransferRequest{TransferTarget: target})
	if err != nil {
		return nil, err
	}
	return c.ops.wait(ctx, op)
}

func (b *Bot) live(callID string) *call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[callID]
}
