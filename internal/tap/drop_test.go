package tap

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	natssink "github.com/mediabot-dev/mediabot/sink/nats"
)

// Frames the bot dropped while NATS was down are gaps in Mediabot-Seq: the
// tap counts them in its summary and still places the audio after them on
// the media clock, as the file sink would have (silence where they were).
func TestWriteCountsTheFramesTheBotDroppedAndPlacesTheRest(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	s, err := natssink.New(natssink.Config{URL: srv.ClientURL(), InstanceID: "test", Logger: quiet(),
		MaxPending: 10, Backlog: 50, AckTimeout: 300 * time.Millisecond, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var reports atomic.Int32
	s.ReportErrorsTo(func(event.Event) { reports.Add(1) })

	var sent []*audio.Frame
	send := func(from, to int) {
		for i := from; i < to; i++ {
			f := testFrame("call-1", "alice", 1, 16000, int64(20*i), 500)
			sent = append(sent, f)
			s.Frame(f)
		}
	}
	send(0, 20)
	time.Sleep(200 * time.Millisecond)
	srv.Shutdown()
	srv.WaitForShutdown()
	send(20, 220)
	if s.Dropped() == 0 {
		t.Fatal("nothing dropped")
	}
	natstest.Start(t, port, dir)
	for deadline := time.Now().Add(15 * time.Second); reports.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // until the backlog has drained
	}
	send(220, 230)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	stored := storedSeqs(t, url)
	var want expectTrack
	for _, seq := range stored {
		want.put(sent[seq])
	}
	if len(stored) == len(sent) {
		t.Fatal("every frame stored: nothing to see")
	}
	outDir := t.TempDir()
	var out strings.Builder
	if err := Run(context.Background(), Options{URL: url, WriteDir: outDir, Idle: 300 * time.Millisecond,
		Out: &out, Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	got, _ := wavtest.Read(t, filepath.Join(outDir, "call-1", "alice.wav"))
	if !slices.Equal(got, want) {
		t.Errorf("alice.wav: %d samples differ from the %d of the frames stored, placed on the media clock (first difference at %d)",
			len(got), len(want), firstDiff(got, want))
	}
	wantLine := fmt.Sprintf("tap: %d frames and 0 events missing", s.Dropped())
	if !strings.Contains(out.String(), wantLine) {
		t.Errorf("summary %q, want it to say %q", out.String(), wantLine)
	}
}

// storedSeqs is the Mediabot-Seq of every frame of call-1/alice in the
// stream, sorted.
func storedSeqs(t *testing.T, url string) []int {
	t.Helper()
	js := natstest.JetStream(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, natssink.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for n := info.State.FirstSeq; n <= info.State.LastSeq; n++ {
		m, err := st.GetMsg(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := strconv.Atoi(m.Header.Get(natssink.HeaderSeq))
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs
}
