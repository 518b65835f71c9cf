package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// An interrupt (SIGINT or SIGTERM) stops every child at once, wherever the
// rung is: a rung looks at its context only between scrapes, and a Ctrl-C at
// the terminal no longer reaches the children, which have process groups of
// their own.

// interruptGrace is how long a child has after SIGTERM, on an interrupt,
// before SIGKILL.
const interruptGrace = 3 * time.Second

var errInterrupted = errors.New("interrupted")

// running is every child started and not yet exited.
var running struct {
	sync.Mutex
	children map[*child]struct{}
	stopped  bool // by an interrupt: no more children
}

// track adds c to the running children; after an interrupt it reports false.
func track(c *child) bool {
	running.Lock()
	defer running.Unlock()
	if running.stopped {
		return false
	}
	if running.children == nil {
		running.children = make(map[*child]struct{})
	}
	running.children[c] = struct{}{}
	return true
}

func untrack(c *child) {
	running.Lock()
	defer running.Unlock()
	delete(running.children, c)
}

// stopOnInterrupt stops every child as soon as ctx is done.
func stopOnInterrupt(ctx context.Context) {
	go func() {
		<-ctx.Done()
		stopAll()
	}()
}

// stopAll stops every running child, together, and keeps any more from
// starting; it returns once they have all exited.
func stopAll() {
	running.Lock()
	running.stopped = true
	children := make([]*child, 0, len(running.children))
	for c := range running.children {
		children = append(children, c)
	}
	running.Unlock()
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Go(func() { c.stop(interruptGrace) })
	}
	wg.Wait()
}
