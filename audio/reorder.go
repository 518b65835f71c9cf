package audio

import "time"

// reorderSlots is how many sequence numbers ahead of the next expected one
// a packet may arrive and be held (640 ms of 20 ms packets). A power of two.
const reorderSlots = 32

// restartJump is a sequence jump past which the sender is taken to have
// restarted its numbering, rather than the packet being very late or early.
const restartJump = 1000

// slotPayload is the room each slot of the window reserves for a payload:
// a 20 ms Opus packet is 50 to 300 bytes, a G.711 one 160. A larger
// payload (up to the 1500-byte read buffer) gets room of its own, once.
const slotPayload = 512

// heldPacket is a packet waiting in the reorder window, copied into memory
// the window owns (the read buffer is reused for the next packet).
type heldPacket struct {
	used    bool
	seq     uint16
	ts      uint32
	csrc    uint32
	marker  bool
	level   audioLevel
	arrival time.Time
	payload []byte
}

// audioLevel is a packet's RFC 6464 audio level in -dBov, if it has one.
type audioLevel struct {
	v  uint8
	ok bool
}

// Payload is the packet's payload.
func (h *heldPacket) Payload() []byte { return h.payload }

// pushResult is what the window did with a packet.
type pushResult int

const (
	pushHeld      pushResult = iota // held, in order or ahead of a gap
	pushReordered                   // held, and it arrived after a later packet
	pushDuplicate                   // seen before: dropped
	pushLate                        // its turn has passed (released or given up): dropped
	pushTooFar                      // beyond the window: release (or give up on) older ones first
	pushRestart                     // the sequence jumped: the sender restarted
)

// reorderWindow puts a stream's packets back in sequence order. Packets
// leave as soon as they are contiguous; a gap is given up on (declared lost)
// once a packet after it has waited maxWait, or when the window is full.
// Sequence numbers wrap: all arithmetic is modulo 2^16 relative to next.
type reorderWindow struct {
	slots   [reorderSlots]heldPacket
	started bool
	next    uint16 // the sequence number due out next
	highest uint16 // highest sequence number held or released
	held    int
	recent  uint64 // bit i set: next-1-i was released (for duplicates)
	maxWait time.Duration
}

// newReorderWindow makes a window whose slots share one reserved block
// of payload room.
func newReorderWindow(maxWait time.Duration) reorderWindow {
	w := reorderWindow{maxWait: maxWait}
	room := make([]byte, reorderSlots*slotPayload)
	for i := range w.slots {
		w.slots[i].payload = room[i*slotPayload : i*slotPayload : (i+1)*slotPayload]
	}
	return w
}

// push offers a packet. It copies the payload.
//
// hot path: no alloc (for payloads up to slotPayload, or a slot's largest
// payload so far).
func (w *reorderWindow) push(seq uint16, ts, csrc uint32, marker bool, level audioLevel, payload []byte, arrival time.Time) pushResult {
	if !w.started { // recent may still describe the sequence before a restart
		w.started, w.next, w.highest, w.recent = true, seq, seq, 0
	}
	off := int(int16(seq - w.next))
	switch {
	case off >= restartJump || off <= -restartJump:
		return pushRestart
	case off < 0:
		if back := -off - 1; back < 64 && w.recent&(1<<back) != 0 {
			return pushDuplicate
		}
		return pushLate
	case off >= reorderSlots:
		return pushTooFar
	}
	h := &w.slots[seq%reorderSlots]
	if h.used {
		return pushDuplicate
	}
	h.used, h.seq, h.ts, h.csrc, h.marker, h.level, h.arrival = true, seq, ts, csrc, marker, level, arrival
	h.payload = append(h.payload[:0], payload...)
	w.held++
	if int16(seq-w.highest) > 0 {
		w.highest = seq
		return pushHeld
	}
	if seq != w.highest {
		return pushReordered
	}
	return pushHeld
}

// pop returns the next packet in order when it is there. Otherwise, when a
// gap has waited long enough (or force is set and something is held), it
// gives up on the missing sequence number and reports it lost. The returned
// packet stays valid until the next push.
//
// hot path: no alloc.
func (w *reorderWindow) pop(now time.Time, force bool) (h *heldPacket, lost bool) {
	h = &w.slots[w.next%reorderSlots]
	if h.used && h.seq == w.next {
		h.used = false
		w.held--
		w.advance(true)
		return h, false
	}
	if w.held == 0 {
		return nil, false
	}
	if force || now.Sub(w.oldestArrival()) >= w.maxWait {
		w.advance(false)
		return nil, true
	}
	return nil, false
}

// peek returns the packet due next if it is held (for FEC), else nil.
func (w *reorderWindow) peek() *heldPacket {
	h := &w.slots[w.next%reorderSlots]
	if h.used && h.seq == w.next {
		return h
	}
	return nil
}

// giveUp declares the packet due next lost although nothing after it is
// held: a packet beyond the window arrived while the window was empty, and
// pop, which gives up on a gap only for a held packet, would never move.
func (w *reorderWindow) giveUp() { w.advance(false) }

func (w *reorderWindow) advance(released bool) {
	w.recent <<= 1
	if released {
		w.recent |= 1
	}
	w.next++
}

// oldestArrival is the earliest arrival among held packets; scanned only
// while a gap is open.
func (w *reorderWindow) oldestArrival() time.Time {
	var oldest time.Time
	for i := range w.slots {
		if h := &w.slots[i]; h.used && (oldest.IsZero() || h.arrival.Before(oldest)) {
			oldest = h.arrival
		}
	}
	return oldest
}

// restart forgets everything and starts over at seq (after the caller has
// popped what it wanted to keep).
func (w *reorderWindow) restart(seq uint16) {
	for i := range w.slots {
		w.slots[i].used = false
	}
	w.held, w.recent = 0, 0
	w.next, w.highest = seq, seq
}
