package audio

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultDrainInterval is how often a Drainer empties its rings: a consumer
// is woken once per interval for all the streams it serves, not once per
// frame, which is what keeps per-packet cost near the decode floor.
const DefaultDrainInterval = 10 * time.Millisecond

// Drainer feeds one FrameConsumer (a sink, an embedder's consumer) from the
// rings of every stream, on a goroutine of its own, in batches.
type Drainer struct {
	consumer FrameConsumer
	interval time.Duration

	mu      sync.Mutex // guards changes to rings; never taken per frame
	rings   atomic.Pointer[[]*Ring]
	removed map[*Ring]chan struct{}
	syncs   chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	frames  atomic.Uint64
}

// NewDrainer starts draining into c every interval (DefaultDrainInterval if
// zero). Stop it with Close.
func NewDrainer(c FrameConsumer, interval time.Duration) *Drainer {
	if interval <= 0 {
		interval = DefaultDrainInterval
	}
	d := &Drainer{consumer: c, interval: interval, removed: map[*Ring]chan struct{}{},
		syncs: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	d.rings.Store(&[]*Ring{})
	go d.run()
	return d
}

// Add starts draining r.
func (d *Drainer) Add(r *Ring) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := append(append([]*Ring(nil), *d.rings.Load()...), r)
	d.rings.Store(&next)
}

// Remove stops draining r once everything in it has been delivered, and
// returns after that last delivery. The producer must have stopped.
func (d *Drainer) Remove(r *Ring) {
	d.mu.Lock()
	ch := make(chan struct{})
	d.removed[r] = ch
	d.mu.Unlock()
	select {
	case <-ch:
	case <-d.done: // closed: Close drained everything
	}
}

// Sync returns once everything put into the drainer's rings before the call
// has been delivered.
func (d *Drainer) Sync() {
	ch := make(chan struct{})
	select {
	case d.syncs <- ch:
		<-ch
	case <-d.done:
	}
}

// Frames is the number of frames delivered so far.
func (d *Drainer) Frames() uint64 { return d.frames.Load() }

// Close delivers what is left and stops the drainer.
func (d *Drainer) Close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
}

func (d *Drainer) run() {
	defer close(d.done)
	tick := time.NewTicker(d.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			d.drain()
		case ch := <-d.syncs:
			d.drain()
			close(ch)
		case <-d.stop:
			d.drain()
			return
		}
	}
}

// drain empties every ring once, then retires the removed ones (after their
// final frames were delivered above).
func (d *Drainer) drain() {
	for _, r := range *d.rings.Load() {
		d.frames.Add(uint64(r.Drain(d.consumer.Frame)))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.removed) == 0 {
		return
	}
	var keep []*Ring
	for _, r := range *d.rings.Load() {
		if ch, gone := d.removed[r]; gone {
			d.frames.Add(uint64(r.Drain(d.consumer.Frame)))
			close(ch)
			delete(d.removed, r)
			continue
		}
		keep = append(keep, r)
	}
	for r, ch := range d.removed { // never added: nothing to deliver
		close(ch)
		delete(d.removed, r)
	}
	d.rings.Store(&keep)
}
