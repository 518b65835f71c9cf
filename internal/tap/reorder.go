package tap

import "slices"

// maxReorder is how many messages of one subject wait for a missing
// sequence number (a resend after a NATS restart is stored after later
// messages): 500 frames are 10 s of audio. Past it the gap is given up.
const maxReorder = 500

// reorder puts one subject's messages back in their sequence order
// (Mediabot-Seq, or the event number), which starts at 0 and goes up by
// one; a number that never comes (a message the bot dropped, or the stream
// discarded) is given up after maxReorder messages, or at the end.
type reorder[T any] struct {
	next    uint64
	pending map[uint64]T
	// missing counts the numbers given up: frames or events the bot
	// dropped (its backlog full while NATS was down) or the stream
	// discarded (its limits).
	missing uint64
}

// push takes message seq and hands every message now in order to emit. A
// sequence number already emitted (a duplicate) is ignored.
func (r *reorder[T]) push(seq uint64, v T, emit func(T)) {
	if seq < r.next {
		return
	}
	if seq == r.next && len(r.pending) == 0 {
		r.next++
		emit(v)
		return
	}
	if r.pending == nil {
		r.pending = make(map[uint64]T)
	}
	r.pending[seq] = v
	r.drain(emit)
	if len(r.pending) > maxReorder {
		r.skip(emit)
	}
}

// drain emits the pending messages that are next in order.
func (r *reorder[T]) drain(emit func(T)) {
	for {
		v, ok := r.pending[r.next]
		if !ok {
			return
		}
		delete(r.pending, r.next)
		r.next++
		emit(v)
	}
}

// skip gives up waiting for the missing number: it jumps to the lowest
// pending one.
func (r *reorder[T]) skip(emit func(T)) {
	if len(r.pending) == 0 {
		return
	}
	keys := make([]uint64, 0, len(r.pending))
	for k := range r.pending {
		keys = append(keys, k)
	}
	low := slices.Min(keys)
	r.missing += low - r.next
	r.next = low
	r.drain(emit)
}

// flush emits everything pending in order, gaps skipped.
func (r *reorder[T]) flush(emit func(T)) {
	for len(r.pending) > 0 {
		r.skip(emit)
	}
}
