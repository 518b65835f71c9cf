package tap

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// levels prints, every o.Interval, one line per speaker heard in it: call
// id, participant id, RMS level in dBFS and a bar.
func levels(ctx context.Context, msgs jetstream.MessagesContext, o Options) error {
	m := meter{}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case now := <-tick.C:
			m.print(o.Out, now)
		default:
		}
		msg, err := next(msgs)
		if err != nil {
			return err
		}
		if msg == nil {
			continue
		}
		if call, pid, ok := audioSubject(msg.Subject()); ok {
			m.add(call+" "+pid, msg.Data())
		}
	}
	return nil
}

// meter sums the energy of each speaker (call and participant ids) over
// one interval.
type meter map[string]*energy

type energy struct {
	sum     float64 // of squared samples, full scale = 1
	samples int
}

func (m meter) add(speaker string, pcm []byte) {
	e := m[speaker]
	if e == nil {
		e = &energy{}
		m[speaker] = e
	}
	for i := 0; i+1 < len(pcm); i += 2 {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[i:]))) / 32768
		e.sum += v * v
	}
	e.samples += len(pcm) / 2
}

// print writes one line per speaker heard since the last print and starts
// a new interval.
func (m meter) print(w io.Writer, now time.Time) {
	speakers := make([]string, 0, len(m))
	for s := range m {
		speakers = append(speakers, s)
	}
	slices.Sort(speakers)
	for _, s := range speakers {
		db := dBFS(m[s])
		fmt.Fprintf(w, "%s %s %6.1f dBFS |%-20s|\n", now.Format("15:04:05"), s, db, bar(db))
		delete(m, s)
	}
}

// floorDB is the level printed for silence, and the empty end of the bar.
const floorDB = -90.0

func dBFS(e *energy) float64 {
	if e.samples == 0 || e.sum == 0 {
		return floorDB
	}
	return max(10*math.Log10(e.sum/float64(e.samples)), floorDB)
}

// bar draws level db as up to 20 '#', one per 3 dB above -60 dBFS.
func bar(db float64) string {
	n := int((db + 60) / 3)
	return strings.Repeat("#", min(max(n, 0), 20))
}
