package mediabot_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/natstest"
	"github.com/mediabot-dev/mediabot/sink/nats"
)

// natsSink is a NATS sink on the server at url, for a bot of tests.
func natsSink(t *testing.T, url string) mediabot.Option {
	t.Helper()
	s, err := nats.New(nats.Config{URL: url, InstanceID: "test", SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	return mediabot.WithSink(s)
}

// eachNATSMessage hands fn every message the stream holds on subjects
// matching filter, in order. It counts them first and waits for each
// batch: a busy server may answer a fetch before it has its messages
// ready.
func eachNATSMessage(t *testing.T, url, filter string, fn func(jetstream.Msg)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := natstest.JetStream(t, url)
	st, err := js.Stream(ctx, nats.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, n := range info.State.Subjects {
		want += n
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	for got := uint64(0); got < want; {
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of the %d messages the stream holds", filter, got, want)
		}
		batch, err := cons.Fetch(int(min(want-got, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			got++
			fn(m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
	}
}

// natsEvents reads every event of a call the stream holds, in order.
func natsEvents(t *testing.T, url, callID string) []event.Event {
	t.Helper()
	var out []event.Event
	eachNATSMessage(t, url, nats.EventSubjectPrefix+nats.SubjectToken(callID), func(m jetstream.Msg) {
		var e event.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			t.Fatalf("event on NATS %q: %v", m.Data(), err)
		}
		out = append(out, e)
	})
	return out
}

// A policy-recording call with a screen share on when the bot answers: Graph
// refuses the recording status (after throttling the request for 2 s, so
// that the share is surely on first). No event of the call, its content
// sharing included, reaches the file or NATS: every event of a gated call
// passes the gate. The call is long enough that only the bot can end it.
func TestRefusedRecordingKeepsNoSharingEvent(t *testing.T) {
	sim := startSim(t)
	natsURL := natstest.Start(t, -1, t.TempDir()).ClientURL()
	log := &eventLog{}
	srv := startBot(t, sim, nil, mediabot.WithEventConsumer(log), natsSink(t, natsURL))
	sim.FailNext(http.MethodPost, "/updateRecordingStatus", http.StatusTooManyRequests, time.Second, 2)
	sim.FailNext(http.MethodPost, "/updateRecordingStatus", http.StatusForbidden, 0, 1)
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 10 * time.Second, PolicyRecording: true,
		Shares:       []graphsim.Share{{Start: -1, End: time.Second}, {Start: 1500 * time.Millisecond, End: 4 * time.Second}},
		Participants: []graphsim.Participant{{Voice: graphsim.Voice{FundamentalHz: 300}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if len(res.SharesSent) == 0 {
		t.Fatal("graphsim sent no share: the test tests nothing")
	}
	if !res.EndedByBot {
		t.Error("the bot stayed in a call it may not record")
	}
	if entries, _ := os.ReadDir(filepath.Join(srv.OutDir, res.CallID)); len(entries) != 0 {
		t.Errorf("files kept of a refused recording: %v", entries)
	}
	if got := natsEvents(t, natsURL, res.CallID); len(got) != 0 {
		t.Errorf("%d events of a refused recording published on NATS, the first %s", len(got), got[0].Type)
	}
	if n := len(log.of(res.CallID, event.SharingStarted, event.SharingEnded)); n != 0 {
		t.Errorf("%d sharing events of a refused recording reached the event consumers", n)
	}
}
