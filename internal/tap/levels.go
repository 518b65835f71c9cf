package tap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot/event"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// levels prints, every o.Interval, one line per speaker heard in it: call
// id, participant id, display name (when the call's participant events
// give one), RMS level in dBFS, a bar, and the speaker's talk time so far
// (the stretches of speech.ended events since the tap started).
func levels(ctx context.Context, js jetstream.JetStream, msgs jetstream.MessagesContext, o Options) error {
	m := meter{talk: map[string]time.Duration{}, heard: map[string]*energy{}, names: map[string]string{}, calls: map[string]bool{}}
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
			if !m.calls[call] { // a call first heard: who joined before the tap started
				m.calls[call] = true
				m.learnNames(ctx, js, o.Stream, call)
			}
			m.add(call+" "+pid, msg.Data())
		} else if call, ok := eventSubject(msg.Subject()); ok {
			m.event(call, msg.Data(), true)
		}
	}
	return nil
}

// meter sums the energy of each speaker (call and participant tokens, as in
// the subject) over one interval, and each one's talk time.
type meter struct {
	heard map[string]*energy
	talk  map[string]time.Duration
	names map[string]string // speaker -> display name
	calls map[string]bool   // calls whose earlier events were read
}

// event takes a call's event: a participant's display name
// (participant.joined/updated identity.displayName), and, when live, a
// speech.ended stretch for its speaker's talk time.
func (m meter) event(call string, data []byte, live bool) {
	var e event.Event
	if json.Unmarshal(data, &e) != nil {
		return
	}
	speaker := call + " " + natssink.SubjectToken(e.ParticipantID)
	switch e.Type {
	case event.ParticipantJoined, event.ParticipantUpdated:
		if e.Identity != nil && e.Identity.DisplayName != "" {
			m.names[speaker] = e.Identity.DisplayName
		}
	case event.SpeechEnded:
		if live && e.DurationMs != nil {
			m.talk[speaker] += time.Duration(*e.DurationMs) * time.Millisecond
		}
	}
}

// learnWait bounds the wait for a call's earlier events.
const learnWait = 500 * time.Millisecond

// learnNames reads the events call had before the tap started, for the
// display names of those who joined then. It gives up quietly: names are a
// nicety.
func (m meter) learnNames(ctx context.Context, js jetstream.JetStream, stream, call string) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natssink.EventSubjectPrefix + call}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return
	}
	pending := uint64(1) // the first message says how many follow it
	for pending > 0 && ctx.Err() == nil {
		batch, err := cons.Fetch(int(min(pending, 500)), jetstream.FetchMaxWait(learnWait))
		if err != nil {
			return
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			m.event(call, msg.Data(), false)
			md, err := msg.Metadata()
			if err != nil {
				return
			}
			pending = md.NumPending
		}
		if got == 0 {
			return
		}
	}
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
		who := s
		if name := m.names[s]; name != "" {
			who += " " + strconv.Quote(name)
		}
		fmt.Fprintf(w, "%s %s %6.1f dBFS |%-20s| talked %s\n", now.Format("15:04:05"), who, db, bar(db), m.talk[s].Round(100*time.Millisecond))
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
