package call

import (
	"testing"

	"github.com/mediabot-dev/mediabot/event"
)

// The gate holds a policy-recording call's events until Graph confirms
// recording, then lets them all out in order; once refused, only the
// call's last words go, and to the in-process consumers only.
func TestRecordingGateHoldsThenReleasesOrRefuses(t *testing.T) {
	started := event.Event{Type: event.SharingStarted, SessionID: "s1"}
	joined := event.Event{Type: event.ParticipantJoined, ParticipantID: "p1"}
	failed := event.Event{Type: event.RecordingStatus, Status: "failed"}
	terminated := event.Event{Type: event.CallState, State: "terminated"}

	confirmed := newRecordingGate()
	for _, e := range []event.Event{started, joined} {
		if _, held := confirmed.route(e); !held {
			t.Fatalf("%s passed a closed gate", e.Type)
		}
	}
	if confirmed.isOpen() {
		t.Fatal("open before Graph confirmed")
	}
	released := confirmed.openGate()
	if len(released) != 2 || released[0].Type != event.SharingStarted || released[1].Type != event.ParticipantJoined {
		t.Fatalf("released %+v, want the two held events in order", released)
	}
	if to, held := confirmed.route(started); held || to != Everyone {
		t.Errorf("after confirmation: held %v, to %v; want everyone", held, to)
	}
	if n := confirmed.refuse(); n != 0 || !confirmed.isOpen() {
		t.Errorf("refuse after confirmation dropped %d, open %v: a confirmed gate stays open", n, confirmed.isOpen())
	}

	refused := newRecordingGate()
	refused.route(started)
	refused.route(joined)
	if n := refused.refuse(); n != 2 {
		t.Errorf("refuse dropped %d events, want the 2 held", n)
	}
	if released := refused.openGate(); released != nil || refused.isOpen() {
		t.Errorf("a refused gate opened and released %+v", released)
	}
	for _, tc := range []struct {
		e    event.Event
		held bool
	}{{started, true}, {joined, true}, {failed, false}, {terminated, false}} {
		to, held := refused.route(tc.e)
		if held != tc.held || (!held && to != InProcess) {
			t.Errorf("refused gate, %s: held %v to %v; want held %v, else in-process only", tc.e.Type, held, to, tc.held)
		}
	}
}

// A call's state never goes backwards, repeats are no change, and the
// states of rank 2 follow each other freely.
func TestStatesAdvance(t *testing.T) {
	for _, tc := range []struct {
		cur, next string
		want      bool
	}{
		{"incoming", "establishing", true}, {"establishing", "established", true}, {"established", "establishing", false},
		{"established", "hold", true}, {"hold", "established", true}, {"established", "established", false},
		{"terminating", "established", false}, {"established", "terminating", true}, {"established", "ringing", false},
	} {
		if got := advances(tc.cur, tc.next); got != tc.want {
			t.Errorf("advances(%s, %s) = %v, want %v", tc.cur, tc.next, got, tc.want)
		}
	}
}
