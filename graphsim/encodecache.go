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

// encoded is one encoding, made once; done closes when enc or err is set.
type encoded struct {
	done chan struct{}
	enc  encoding
	err  error
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

// get returns the packets of v in codec for frames packets, and their
// levels, encoding them on first use.
func (c *encodeCache) get(v Voice, codec sendCodec, frames int) (encoding, error) {
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
		return e.enc, e.err
	}
	e.enc, e.err = codec.encode(v, frames)
	if e.err != nil {
		e.err = fmt.Errorf("encode %s: %w", codec.params.MimeType, e.err)
		c.mu.Lock()
		delete(c.m, key) // a later call may try again
		c.mu.Unlock()
	}
	close(e.done)
	return e.enc, e.err
}

// silenceFrames is how many frames of silence an encoder takes to settle:
// its first packets differ while its state fills, then each is the same.
const silenceFrames = 10

// silence is one 20 ms packet of digital silence in codec, as the
// participants' encoder makes it once settled (Opus: a few dozen bytes
// with graphsim's settings, where speech takes 100 to 160; PCMU: 160 bytes
// of 0xFF), to send again and again: shared, never written. Its level is
// silentLevel.
func (c *encodeCache) silence(codec sendCodec) ([]byte, error) {
	e, err := c.get(Voice{}, codec, silenceFrames)
	if err != nil {
		return nil, fmt.Errorf("silence: %w", err)
	}
	return e.payloads[silenceFrames-1], nil
}
