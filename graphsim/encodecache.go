package graphsim

import (
	"fmt"
	"sync"
)

// encodeKey names one encoding of a voice: who says it, in which codec, for
// how many 20 ms packets.
type encodeKey struct {
	voice  Voice
	mime   string
	frames int
}

// encoded is one encoding, made once; done closes when payloads or err is set.
type encoded struct {
	done     chan struct{}
	payloads [][]byte
	err      error
}

// encodeCache encodes each distinct (voice, codec, frame count) once per
// Sim and hands every call the same packets, so that a load test of many
// concurrent calls spends its CPU on sending, not on libopus encoding. It is
// safe for concurrent use: callers asking for an encoding being made wait
// for it rather than making it again. The payloads it returns are shared and
// must not be written; pion copies them into each SRTP packet it sends.
type encodeCache struct {
	mu sync.Mutex
	m  map[encodeKey]*encoded
}

// get returns the packets of v in codec for frames packets, encoding them
// on first use.
func (c *encodeCache) get(v Voice, codec sendCodec, frames int) ([][]byte, error) {
	key := encodeKey{voice: v, mime: codec.params.MimeType, frames: frames}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[encodeKey]*encoded{}
	}
	e, found := c.m[key]
	if !found {
		e = &encoded{done: make(chan struct{})}
		c.m[key] = e
	}
	c.mu.Unlock()
	if found {
		<-e.done
		return e.payloads, e.err
	}
	e.payloads, e.err = codec.encode(v, frames)
	if e.err != nil {
		e.err = fmt.Errorf("encode %s: %w", codec.params.MimeType, e.err)
		c.mu.Lock()
		delete(c.m, key) // a later call may try again
		c.mu.Unlock()
	}
	close(e.done)
	return e.payloads, e.err
}
