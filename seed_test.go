package mediabot_test

import (
	"context"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/mediasession"
	"github.com/mediabot-dev/mediabot/signaling"
)

// The seed's three incoming-call examples, sent verbatim, each produce the
// right action: Examples 1 and 2 are answered with this bot's media (a blob
// v1 for the call), Example 3 (policy-based recording) inside Graph's 5 s
// with the configured participantCapacity.
func TestSeedIncomingExamplesProduceTheRightAction(t *testing.T) {
	sim := startSim(t)
	cases := []struct {
		file, callID string
		window       time.Duration
		capacity     int
	}{
		{"example1_incoming.json", "57DAB8B1894C409AB240BD8BEAE78896", 15 * time.Second, 0},
		{"example2_incoming.json", "57DAB8B1894C409AB240BD8BEAE78896", 15 * time.Second, 0},
		{"example3_policy_incoming.json", "e71f0300-9c1f-4d99-b5f4-2722e877d497", 5 * time.Second, 7},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			// A bot of its own: Examples 1 and 2 name the same call. Its
			// media never connects, so it is drained quickly at the end.
			srv := startBot(t, sim, func(c *mediabot.Config) { c.ParticipantCapacity, c.DrainTimeout = 7, 10*time.Millisecond })
			offer, err := sim.OfferCall(context.Background(), srv.Webhook, tc.callID, seedExample(t, tc.file), tc.window)
			if err != nil {
				t.Fatal(err)
			}
			if offer.Answer == nil {
				t.Fatalf("not answered: %+v", offer)
			}
			a := offer.Answer
			if a.MediaConfig.ODataType != signaling.ODataAppHostedMediaConfig || a.ParticipantCapacity != tc.capacity {
				t.Errorf("answer %s, participantCapacity %d; want app-hosted media and %d", a.MediaConfig.ODataType, a.ParticipantCapacity, tc.capacity)
			}
			blob, err := mediasession.DecodeBlob(a.MediaConfig.Blob)
			if err != nil || blob.CallID != tc.callID {
				t.Errorf("blob for call %q (%v), want %q", blob.CallID, err, tc.callID)
			}
		})
	}

}
