package mediabot_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/mediabottest"
	"github.com/mediabot-dev/mediabot/sink"
)

// playExampleCall runs a bot with opts against graphsim on loopback
// (mediabottest, the pattern for an embedder's own tests) and plays one 3 s
// call: Alice speaks for the first 2 s, Bob for the last second and shares
// his screen from 1 s to 2 s.
func playExampleCall(opts ...mediabot.Option) error {
	srv, err := mediabottest.Start(mediabottest.Options{BotOptions: opts})
	if err != nil {
		return err
	}
	_, err = srv.Sim.PlayCall(context.Background(), graphsim.Scenario{
		BotURL:   srv.Webhook,
		Duration: 3 * time.Second,
		Participants: []graphsim.Participant{
			{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: 220, SyllableHz: 4}, Talk: []graphsim.Span{{Start: 0, End: 2 * time.Second}}},
			{DisplayName: "Bob", Voice: graphsim.Voice{FundamentalHz: 130, SyllableHz: 3}, Talk: []graphsim.Span{{Start: 2 * time.Second, End: 3 * time.Second}}},
		},
		Shares: []graphsim.Share{{Start: time.Second, End: 2 * time.Second, Presenter: 1}},
	})
	return errors.Join(err, srv.WaitIdle(10*time.Second), srv.Close())
}

// talkTime adds up, per speaker, the frames loud enough to be speech.
type talkTime struct {
	mu  sync.Mutex
	per map[string]time.Duration
}

// Frame runs on the bot's delivery goroutine: it reads the samples and
// keeps nothing of the frame.
func (t *talkTime) Frame(f *audio.Frame) {
	if f.Identity == nil || rms(f.PCM) < 300 {
		return
	}
	t.mu.Lock()
	t.per[f.Identity.DisplayName] += audio.FrameMs * time.Millisecond
	t.mu.Unlock()
}

func rms(pcm []int16) float64 {
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// Consume frames in-process and compute each speaker's talk time.
func Example_talkTime() {
	tt := &talkTime{per: map[string]time.Duration{}}
	if err := playExampleCall(mediabot.WithFrameConsumer(tt)); err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range tt.per {
			if !yield(n) {
				return
			}
		}
	}) {
		fmt.Printf("%s spoke about %.1f s\n", name, tt.per[name].Round(500*time.Millisecond).Seconds())
	}
	// Output:
	// Alice spoke about 2.0 s
	// Bob spoke about 1.0 s
}

// speakerFiles writes each speaker's speech, without the silences, to a
// 16 kHz WAV of their own: ready for a transcription service.
type speakerFiles struct {
	dir   string
	files map[string]*sink.WAVWriter
}

func (s *speakerFiles) Frame(f *audio.Frame) {
	if f.Identity == nil || rms(f.PCM) < 300 {
		return
	}
	w := s.files[f.ParticipantID]
	if w == nil {
		var err error
		if w, err = sink.CreateWAV(filepath.Join(s.dir, f.Identity.DisplayName+".wav"), f.SampleRate); err != nil {
			return
		}
		s.files[f.ParticipantID] = w
	}
	_ = w.Write(f.PCM) // written at once: the samples are not kept
}

// Write a transcript-ready 16 kHz WAV per speaker.
func Example_wavPerSpeaker() {
	dir, _ := os.MkdirTemp("", "speakers")
	defer os.RemoveAll(dir)
	files := &speakerFiles{dir: dir, files: map[string]*sink.WAVWriter{}}
	if err := playExampleCall(mediabot.WithFrameConsumer(files)); err != nil {
		fmt.Println(err)
		return
	}
	var names []string
	for _, w := range files.files {
		_ = w.Close()
		names = append(names, fmt.Sprintf("%s: %.1f s at 16 kHz", filepath.Base(w.Path()),
			(time.Duration(w.Samples())*time.Second/16000).Round(500*time.Millisecond).Seconds()))
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// Alice.wav: 2.0 s at 16 kHz
	// Bob.wav: 1.0 s at 16 kHz
}

// React to content-sharing events: who shares, and for how long.
func Example_contentSharing() {
	var mu sync.Mutex
	names := map[string]string{}
	var lines []string
	onEvent := event.ConsumerFunc(func(e event.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case event.ParticipantJoined:
			names[e.ParticipantID] = e.Identity.DisplayName
		case event.SharingStarted:
			lines = append(lines, names[e.ParticipantID]+" started sharing")
		case event.SharingEnded:
			d := time.Duration(*e.DurationMs) * time.Millisecond
			lines = append(lines, fmt.Sprintf("%s stopped sharing after about %.0f s", names[e.ParticipantID], d.Round(time.Second).Seconds()))
		}
	})
	if err := playExampleCall(mediabot.WithEventConsumer(onEvent)); err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// Bob started sharing
	// Bob stopped sharing after about 1 s
}
