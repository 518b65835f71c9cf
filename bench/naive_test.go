package bench

import (
	"sync"
	"testing"

	"github.com/pion/rtp"

	"github.com/mediabot-dev/mediabot/audio"
)

// naive is the obvious Go design of the same path, for contrast: the reader
// copies each packet and hands it over a channel to a decoding goroutine,
// which parses into a new packet, decodes into a new buffer and hands a new
// frame over another channel to the sink's goroutine.
type naive struct {
	packets chan []byte
	frames  chan *audio.Frame
	wg      sync.WaitGroup
}

func startNaive(b *testing.B) *naive {
	b.Helper()
	dec, err := audio.NewOpusDecoder(16000)
	if err != nil {
		b.Fatal(err)
	}
	n := &naive{packets: make(chan []byte), frames: make(chan *audio.Frame)}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		defer close(n.frames)
		for raw := range n.packets {
			pkt := &rtp.Packet{}
			if pkt.Unmarshal(raw) != nil {
				continue
			}
			decoded, err := dec.Decode(pkt.Payload)
			if err != nil {
				continue
			}
			pcm := make([]int16, len(decoded))
			copy(pcm, decoded)
			n.frames <- &audio.Frame{SSRC: pkt.SSRC, Seq: pkt.SequenceNumber, RTPTimestamp: pkt.Timestamp, PCM: pcm}
		}
	}()
	go func() {
		defer n.wg.Done()
		for range n.frames {
		}
	}()
	return n
}

func (n *naive) push(raw []byte) {
	n.packets <- append([]byte(nil), raw...)
}

func (n *naive) stop() {
	close(n.packets)
	n.wg.Wait()
}
