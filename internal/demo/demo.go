// Package demo plays one simulated Teams call against a real bot on
// loopback: graphsim rings the bot and the bot answers (or, with Join, the
// bot joins a meeting graphsim hosts, asked through its operator API),
// participants speak over real UDP, and the recordings land in the out
// folder. The mediabot demo command is a thin wrapper around Run.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/joinclient"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// Options shape the demo call.
type Options struct {
	OutDir       string
	Duration     time.Duration
	Participants int
	SampleRate   int
	// Join makes the bot join a scheduled meeting by its join link instead
	// of answering an incoming call.
	Join bool
	// RecordOpus records Ogg Opus files of the packets as received instead
	// of WAVs.
	RecordOpus bool
	Logger     *slog.Logger
}

// MaxParticipants is how many distinct speakers the demo has.
var MaxParticipants = len(graphsim.Cast)

// Summary is what the demo reports.
type Summary struct {
	CallID        string
	AnswerLatency time.Duration
	// JoinURL is the meeting the bot joined (Options.Join); AnswerLatency
	// is then the time Graph took to create the call.
	JoinURL      string
	Participants []ParticipantSummary
	Dir          string
	Files        []string
}

// ParticipantSummary is one speaker's part of the call.
type ParticipantSummary struct {
	ID, Name       string
	DecodedSeconds float64
	Packets, Lost  uint64
	// Talked is the participant's stretches of speech, added up.
	Talked time.Duration
}

// Run plays the demo call and returns its summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Participants < 1 || o.Participants > MaxParticipants {
		return nil, fmt.Errorf("participants: want 1 to %d, got %d", MaxParticipants, o.Participants)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tally := newTally()
	srv, err := mediabottest.Start(mediabottest.Options{
		OutDir: o.OutDir, RecordOpus: o.RecordOpus, Logger: log,
		Configure: func(c *mediabot.Config) {
			c.InstanceID = "demo"
			c.SampleRate = o.SampleRate
		},
		BotOptions: []mediabot.Option{mediabot.WithFrameConsumer(tally), mediabot.WithEventConsumer(tally)},
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	sc := graphsim.Scenario{BotURL: srv.Webhook, Duration: o.Duration,
		Shares: []graphsim.Share{{Start: o.Duration / 3, End: o.Duration * 2 / 3, Presenter: 0}}}
	names := map[string]string{}
	for i := range o.Participants {
		v := graphsim.Cast[i]
		p := graphsim.Participant{ID: participantID(i), DisplayName: v.Name, Voice: v.Voice, JoinAt: time.Duration(i) * 300 * time.Millisecond}
		if o.Participants > sections {
			p.Talk = turns(i, o.Participants, o.Duration)
		}
		names[p.ID] = v.Name
		sc.Participants = append(sc.Participants, p)
	}
	var res *graphsim.CallResult
	var playErr error
	var joinURL string
	if o.Join {
		res, joinURL, playErr = joinMeeting(ctx, srv.Sim, sc, srv.OpsURL)
	} else {
		res, playErr = srv.Sim.PlayCall(ctx, sc)
	}
	// The bot ends the call when Graph's "deleted" arrives; wait for it.
	idleErr := srv.WaitIdle(10 * time.Second)
	runErr := srv.Stop()
	if playErr != nil {
		return nil, playErr
	}
	if err := errors.Join(idleErr, runErr); err != nil {
		return nil, err
	}
	sum := &Summary{CallID: res.CallID, AnswerLatency: res.AnswerLatency, JoinURL: joinURL}
	for _, id := range res.Participants {
		p := tally.get(id)
		sum.Participants = append(sum.Participants, ParticipantSummary{ID: id, Name: names[id],
			DecodedSeconds: float64(p.samples) / float64(o.SampleRate), Packets: p.packets, Lost: p.lost, Talked: p.talked})
	}
	if o.OutDir != "" {
		sum.Dir = filepath.Join(o.OutDir, res.CallID)
		files, _ := filepath.Glob(filepath.Join(sum.Dir, "*"))
		sort.Strings(files)
		sum.Files = files
	}
	return sum, nil
}

// joinMeeting hosts sc as a meeting in graphsim and asks the bot, through
// its operator API (at opsURL) as `mediabot join` does, to join it by its
// join link; it returns once the meeting has ended.
func joinMeeting(ctx context.Context, sim *graphsim.Sim, sc graphsim.Scenario, opsURL string) (*graphsim.CallResult, string, error) {
	m := sim.AddMeeting(graphsim.Callee{Scenario: sc})
	start := time.Now()
	info, err := (&joinclient.Client{BotURL: opsURL}).Place(ctx, mediabot.JoinRequest{JoinURL: m.JoinURL})
	if err != nil {
		return nil, "", err
	}
	took := time.Since(start)
	res, err := m.Wait(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("meeting %s: %w", info.ID, err)
	}
	res.AnswerLatency = took
	return &res.CallResult, m.JoinURL, nil
}

// sections is the number of audio sections the demo's bot offers: more
// speakers than that take turns, rotating through the sections as Teams
// sends its loudest speakers.
const sections = 4

// turns lets participant i of n talk in the one-second slots where it is
// among the `sections` whose turn it is, so that everyone speaks.
func turns(i, n int, d time.Duration) []graphsim.Span {
	var spans []graphsim.Span
	for slot := 0; time.Duration(slot)*time.Second < d; slot++ {
		if (i-slot%n+n)%n < sections {
			start := time.Duration(slot) * time.Second
			spans = append(spans, graphsim.Span{Start: start, End: start + time.Second})
		}
	}
	return spans
}

// participantID gives the demo's participants stable, readable GUIDs.
func participantID(i int) string {
	return fmt.Sprintf("a1b2c3d4-0000-4000-8000-%012d", i+1)
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "call          %s\n", s.CallID)
	if s.JoinURL != "" {
		fmt.Fprintf(w, "joined        %s\n", s.JoinURL)
		fmt.Fprintf(w, "created in    %s (operator API POST /v1/calls, then Graph's POST /communications/calls)\n", s.AnswerLatency.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "answered in   %s (Graph's window: 15s)\n", s.AnswerLatency.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\n%-38s %-6s %9s %8s %5s %7s\n", "participant", "name", "decoded", "packets", "lost", "talked")
	for _, p := range s.Participants {
		talked := fmt.Sprintf("%.1fs", p.Talked.Seconds())
		if len(s.Participants) > sections {
			fmt.Fprintf(w, "%-38s %-6s %8.2fs %8s %5s %7s\n", p.ID, p.Name, p.DecodedSeconds, "-", "-", talked)
			continue
		}
		fmt.Fprintf(w, "%-38s %-6s %8.2fs %8d %5d %7s\n", p.ID, p.Name, p.DecodedSeconds, p.Packets, p.Lost, talked)
	}
	if len(s.Participants) > sections {
		fmt.Fprintf(w, "(%d speakers take turns over %d audio sections, each packet naming its speaker: packets are counted per section, not per speaker)\n", len(s.Participants), sections)
	}
	if s.Dir != "" {
		fmt.Fprintf(w, "\nfiles in %s:\n", s.Dir)
		for _, f := range s.Files {
			fmt.Fprintf(w, "  %s\n", filepath.Base(f))
		}
	}
}

// tally counts what each participant delivered.
type tally struct {
	mu  sync.Mutex
	per map[string]*partTally
}

type partTally struct {
	samples       int
	packets, lost uint64
	talked        time.Duration
}

func newTally() *tally { return &tally{per: map[string]*partTally{}} }

func (t *tally) get(id string) partTally {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.per[id]; p != nil {
		return *p
	}
	return partTally{}
}

func (t *tally) entry(id string) *partTally {
	p := t.per[id]
	if p == nil {
		p = &partTally{}
		t.per[id] = p
	}
	return p
}

// Frame counts decoded (not concealed) samples per participant.
func (t *tally) Frame(f *audio.Frame) {
	if f.Concealed {
		return
	}
	t.mu.Lock()
	t.entry(f.ParticipantID).samples += len(f.PCM)
	t.mu.Unlock()
}

// Event keeps each stream's final counters and adds up each
// participant's stretches of speech.
func (t *tally) Event(e event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case e.Type == event.StreamStats && e.StreamCounters != nil:
		p := t.entry(e.ParticipantID)
		p.packets += e.Packets
		p.lost += e.Lost
	case e.Type == event.SpeechEnded && e.DurationMs != nil:
		t.entry(e.ParticipantID).talked += time.Duration(*e.DurationMs) * time.Millisecond
	}
}
