package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The demo plays its call and reports what each speaker delivered; with
// more speakers than sections they take turns and everyone is heard.
func TestDemoReportsEveryParticipant(t *testing.T) {
	for _, n := range []int{2, 5} {
		sum, err := Run(context.Background(), Options{OutDir: t.TempDir(), Duration: 2 * time.Second, Participants: n, SampleRate: 16000})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Participants) != n || len(sum.Files) != n+2 { // a WAV each, events.jsonl, speakers.rttm
			t.Fatalf("%d speakers: %d in the summary, files %v", n, len(sum.Participants), sum.Files)
		}
		for _, p := range sum.Participants {
			if p.DecodedSeconds < 0.5 || p.Talked < 500*time.Millisecond || p.Talked.Seconds() > p.DecodedSeconds+0.1 {
				t.Errorf("%d speakers: %s decoded %.2f s, talked %s", n, p.Name, p.DecodedSeconds, p.Talked)
			}
		}
		var out bytes.Buffer
		sum.Print(&out)
		if !strings.Contains(out.String(), sum.CallID) || !strings.Contains(out.String(), "events.jsonl") {
			t.Errorf("summary:\n%s", out.String())
		}
	}
}

// The demo's join mode: the bot joins the meeting by its link through the
// operator API, and everyone is heard.
func TestDemoJoinsAMeeting(t *testing.T) {
	sum, err := Run(context.Background(), Options{OutDir: t.TempDir(), Duration: 2 * time.Second, Participants: 2, SampleRate: 16000, Join: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Participants) != 2 || !strings.Contains(sum.JoinURL, "/l/meetup-join/") {
		t.Fatalf("summary %+v", sum)
	}
	for _, p := range sum.Participants {
		if p.DecodedSeconds < 1.5 {
			t.Errorf("%s decoded %.2f s of 2 s", p.Name, p.DecodedSeconds)
		}
	}
}

func TestDemoRefusesTooManyParticipants(t *testing.T) {
	if _, err := Run(context.Background(), Options{Participants: MaxParticipants + 1}); err == nil {
		t.Error("no error")
	}
}
