package audio

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// MaxFrameSamples is the largest frame a ring slot holds: 20 ms at 48 kHz.
const MaxFrameSamples = 48000 * FrameMs / 1000

// Ring is a bounded single-producer single-consumer queue of frames. The
// producer (a stream's reader goroutine) writes into preallocated slots and
// never waits: when the consumer is behind, the frame is dropped and
// counted. The consumer (a Drainer) takes frames in batches. No locks, no
// channels, no allocation after NewRing.
type Ring struct {
	_    cpu.CacheLinePad
	head atomic.Uint64 // next slot to read; written by the consumer
	_    cpu.CacheLinePad
	tail atomic.Uint64 // next slot to write; written by the producer
	_    cpu.CacheLinePad

	cachedHead uint64 // the producer's last look at head
	every      uint64 // keep one frame in every; 0 or 1: all (SampleEvery)
	offered    uint64 // frames Put was given; producer only
	overflows  atomic.Uint64
	mask       uint64
	slots      []Frame
}

// NewRing makes a ring of at least size slots (rounded up to a power of
// two) whose slots hold frames of up to MaxFrameSamples.
func NewRing(size int) *Ring { return NewRingOf(size, MaxFrameSamples) }

// packetSlot is the payload room a packet ring's slot starts with: a 20 ms
// Opus packet of speech is 40 to 300 bytes. A larger payload gets room of
// its own in that slot, once.
const packetSlot = 320

// NewPacketRing makes a ring of at least size slots for packet frames
// (payloads, no PCM).
func NewPacketRing(size int) *Ring {
	r := NewRingOf(size, 0)
	room := make([]byte, len(r.slots)*packetSlot)
	for i := range r.slots {
		r.slots[i].PCM = nil
		r.slots[i].Payload = room[i*packetSlot : i*packetSlot : (i+1)*packetSlot]
	}
	return r
}

// NewRingOf is NewRing with slots of maxSamples: a stream's rings need hold
// only its own frames (320 samples at 16 kHz), a sixth of the memory.
func NewRingOf(size, maxSamples int) *Ring {
	n := 1
	for n < size {
		n <<= 1
	}
	r := &Ring{mask: uint64(n - 1), slots: make([]Frame, n)}
	for i := range r.slots {
		r.slots[i].PCM = make([]int16, 0, maxSamples)
	}
	return r
}

// SampleEvery makes r keep only the first of every n frames it is given
// (the others are skipped, not counted as overflows), for a consumer that
// looks at a stream now and then, like a level meter. Call it before the
// first Put; r is returned.
func (r *Ring) SampleEvery(n int) *Ring {
	r.every = uint64(max(n, 1))
	return r
}

// Put copies f (and its samples) into the ring; it reports false, counting
// an overflow, when the ring is full.
//
// hot path: no alloc (but once per slot for a payload larger than it
// held before). Producer only.
func (r *Ring) Put(f *Frame) bool {
	if r.every > 1 {
		r.offered++
		if (r.offered-1)%r.every != 0 {
			return true
		}
	}
	tail := r.tail.Load()
	if tail-r.cachedHead > r.mask {
		r.cachedHead = r.head.Load()
		if tail-r.cachedHead > r.mask {
			r.overflows.Add(1)
			return false
		}
	}
	slot := &r.slots[tail&r.mask]
	if len(f.PCM) > cap(slot.PCM) { // a frame larger than the ring was made for
		r.overflows.Add(1)
		return false
	}
	if len(f.Payload) > cap(slot.Payload) {
		slot.Payload = make([]byte, 0, min(max(len(f.Payload), 2*cap(slot.Payload)), MaxPayload))
		if len(f.Payload) > cap(slot.Payload) {
			r.overflows.Add(1)
			return false
		}
	}
	pcm, payload := slot.PCM[:len(f.PCM)], slot.Payload[:len(f.Payload)]
	copy(pcm, f.PCM)
	copy(payload, f.Payload)
	*slot = *f
	slot.PCM, slot.Payload = pcm, payload
	r.tail.Store(tail + 1)
	return true
}

// Drain hands every frame in the ring to fn, oldest first, and returns how
// many it handed. fn must not keep the frame. Consumer only.
func (r *Ring) Drain(fn func(*Frame)) int {
	head, tail := r.head.Load(), r.tail.Load()
	for i := head; i < tail; i++ {
		fn(&r.slots[i&r.mask])
	}
	r.head.Store(tail)
	return int(tail - head)
}

// dropOldest discards the oldest frame. Only for a ring whose producer and
// consumer are the same goroutine (a stream's hold).
func (r *Ring) dropOldest() {
	if head := r.head.Load(); head < r.tail.Load() {
		r.head.Store(head + 1)
		r.overflows.Add(1)
	}
}

// Len is the number of frames waiting.
func (r *Ring) Len() int { return int(r.tail.Load() - r.head.Load()) }

// Overflows is the number of frames dropped because the ring was full.
func (r *Ring) Overflows() uint64 { return r.overflows.Load() }
