package mediasession

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediabot-dev/mediabot/internal/browsertest"
)

// browserSession is a session on a loopback engine whose answer endpoint is
// served on the harness's origin, as answerUri names it.
func browserSession(t *testing.T, h *browsertest.Harness, e *Engine, cfg SessionConfig) *Session {
	t.Helper()
	r := chi.NewRouter()
	r.Method("POST", "/media/sessions/{sessionId}/answer", e.AnswerHandler())
	h.Mux.Handle("POST /media/sessions/", r)
	cfg.AnswerURI = func(id string) string { return h.URL + "/media/sessions/" + id + "/answer" }
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 20 * time.Second
	}
	return newTestSession(t, e, cfg)
}

// Every WebRTC stack takes the offer: a real browser's
// setRemoteDescription accepts it (Firefox's SIPCC parser refused a
// lowercase fingerprint), its answer is one the bot accepts (204 at
// answerUri with the token), one section per offered one.
func TestBrowsersAcceptTheOffer(t *testing.T) {
	for _, b := range browsertest.Browsers {
		t.Run(b.Name, func(t *testing.T) {
			b.Require(t)
			h := browsertest.NewHarness(t)
			e := newTestEngine(t, EngineConfig{})
			s := browserSession(t, h, e, SessionConfig{AnswerTimeout: 180 * time.Second})
			blob := s.Blob()
			h.Start(t, b, browsertest.Call{Offer: blob.Offer, AnswerURI: blob.AnswerURI, Token: blob.Token})
			answer := h.Wait(t, 150*time.Second, "answer", browsertest.Kind("answer")).SDP
			if got := strings.Count(answer, "m=audio "); got != MinAudioSections {
				t.Errorf("answer has %d audio sections, want %d:\n%s", got, MinAudioSections, answer)
			}
			for _, line := range strings.Split(answer, "\r\n") {
				if strings.HasPrefix(line, "a=candidate:") || strings.HasPrefix(line, "a=fingerprint:") || strings.HasPrefix(line, "a=setup:") {
					t.Logf("%s answers %s", b.Name, line)
				}
			}
			posted := h.Wait(t, 10*time.Second, "answer POST", browsertest.Kind("posted"))
			if posted.Status != 204 {
				t.Errorf("answerUri said %d (%s) to %s's answer:\n%s", posted.Status, posted.Error, b.Name, answer)
			}
		})
	}
}

// A browser as the media processor sends a tone to the bot, and the bot's
// RTCP receiver reports reach it: its getStats() on the sending side has a
// remote-inbound-rtp for the sender, with packetsLost and roundTripTime
// (which needs the reports' LSR/DLSR to answer its sender reports).
func TestBrowserSeesTheBotsReceiverReports(t *testing.T) {
	for _, b := range browsertest.Browsers {
		t.Run(b.Name, func(t *testing.T) {
			b.Require(t)
			h := browsertest.NewHarness(t)
			e := newTestEngine(t, EngineConfig{})
			var packets atomic.Int64
			failed := make(chan string, 1)
			s := browserSession(t, h, e, SessionConfig{
				AnswerTimeout: 180 * time.Second,
				OnFailed:      func(reason string) { failed <- reason },
				OnTrack: func(*Track) PacketHandler {
					return countingHandler{&packets}
				},
			})
			blob := s.Blob()
			h.Start(t, b, browsertest.Call{Offer: blob.Offer, AnswerURI: blob.AnswerURI, Token: blob.Token, Send: true})
			// The page tells the bot of the browser's loopback candidates
			// only. Firefox ESR gathers none here (media.peerconnection.ice.
			// loopback notwithstanding: only the machine's other
			// interfaces), and a call over those would have the bot send to
			// an address off loopback: skipped.
			if answer := h.Wait(t, 150*time.Second, "answer", browsertest.Kind("answer")).SDP; !strings.Contains(answer, "a=candidate:") {
				t.Skipf("%s gathered no loopback candidate: no call on loopback", b.Name)
			}
			if posted := h.Wait(t, 60*time.Second, "answer POST", browsertest.Kind("posted")); posted.Status != 204 {
				t.Fatalf("answerUri said %d: %s", posted.Status, posted.Error)
			}
			var last browsertest.Report
			deadline := time.Now().Add(40 * time.Second)
			for {
				select {
				case reason := <-failed:
					t.Fatalf("media failed: %s", reason)
				default:
				}
				last = h.Wait(t, 10*time.Second, "stats", browsertest.Kind("stats"))
				if remote := last.StatsOf("remote-inbound-rtp"); len(remote) > 0 {
					_, errLost := browsertest.Number(remote[0], "packetsLost")
					rtt, errRTT := browsertest.Number(remote[0], "roundTripTime")
					if errLost == nil && errRTT == nil {
						t.Logf("%s remote-inbound-rtp: %v", b.Name, remote[0])
						logSelectedPair(t, b.Name, last)
						if rtt <= 0 || rtt > 1 {
							t.Errorf("roundTripTime %v s on loopback", rtt)
						}
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no remote-inbound-rtp with packetsLost and roundTripTime in 40 s; last stats (%s): %v", last.State, last.Stats)
				}
			}
			if packets.Load() == 0 {
				t.Error("the bot received no packet of the tone")
			}
			t.Logf("the bot received %d packets", packets.Load())
		})
	}
}

// countingHandler counts a track's packets.
type countingHandler struct{ n *atomic.Int64 }

func (c countingHandler) Push([]byte, time.Time) { c.n.Add(1) }
func (c countingHandler) Flush()                 {}

// logSelectedPair logs the addresses of the browser's nominated pair.
func logSelectedPair(t *testing.T, name string, r browsertest.Report) {
	byID := map[string]map[string]any{}
	for _, s := range r.Stats {
		if id, ok := s["id"].(string); ok {
			byID[id] = s
		}
	}
	for _, p := range r.StatsOf("candidate-pair") {
		if p["nominated"] == true && p["state"] == "succeeded" {
			l, rm := byID[fmt.Sprint(p["localCandidateId"])], byID[fmt.Sprint(p["remoteCandidateId"])]
			t.Logf("%s's pair: %v:%v (%v) -> %v:%v (%v)", name, l["address"], l["port"], l["candidateType"], rm["address"], rm["port"], rm["candidateType"])
		}
	}
}
