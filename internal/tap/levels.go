package tap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot/event"
)

// levels prints, every o.Interval, one line per speaker heard in it: call
// id, participant id, RMS level in dBFS, a bar, and the speaker's talk time
// so far (the stretches of speech.ended events since the tap started).
func levels(ctx context.Context, msgs jetstream.MessagesContext, o Options) error {
	m := meter{talk: map[string]time.Duration{}, heard: map[string]*energy{}}
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
		} else if call, ok := eventSubject(msg.Subject()); ok {
			m.event(call, msg.Data())
		}
	}
	return nil
}

// meter sums the energy of each speaker (call and participant ids) over
// one interval, and each one's talk time.
type meter struct {
	heard map[string]*energy
	talk  map[string]time.Duration
}

// event adds a speech.ended stretch to its speaker's talk time.
func (m meter) event(call string, data []byte) {
	var e event.Event
	if json.Unmarshal(data, &e) != nil || e.Type != event.SpeechEnded || e.DurationMs == nil {
		return
	}
	m.talk[call+" "+e.ParticipantID] += time.Duration(*e.DurationMs) * time.Millisecond
}

type energy struct {
	sum     float64 // of squared samples, full scale = 1
	samples int
}

func (m meter) add(speaker string, pcm []byte) {
	e := m.heard[speaker]
	if e == nil {
		e = &energy{}
		m.heard[speaker] = e
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
	speakers := make([]string, 0, len(m.heard))
	for s := range m.heard {
		speakers = append(speakers, s)
	}
	slices.Sort(speakers)
	for _, s := range speakers {
		db := dBFS(m.heard[s])
		fmt.Fprintf(w, "%s %s %6.1f dBFS |%-20s| talked %s\n", now.Format("15:04:05"), s, db, bar(db), m.talk[s].Round(100*time.Millisecond))
		delete(m.heard, s)
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
