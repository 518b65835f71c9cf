package mediabot_test

import (
	"strings"
	"testing"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/sink"
)

// A zero Config is the default one: a bot made from nothing but its app id
// (and loopback media) takes every default, sharing notifications included.
func TestZeroConfigTakesTheDefaults(t *testing.T) {
	bot, err := mediabot.New(mediabot.Config{ClientID: "app", ClientSecret: "s", InboundJWKSURL: "http://127.0.0.1:1/keys", MediaBindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	if got, want := bot.CallbackURI(), mediabot.DefaultConfig().PublicURL+"/api/calls/"; !strings.HasPrefix(got, want) {
		t.Errorf("callbackUri %q, want the default public URL's %q...", got, want)
	}
	if ports := bot.MediaPorts(); len(ports) != 1 || ports[0] == 0 {
		t.Errorf("media ports %v, want one bound port", ports)
	}
}

// A sink writing another rate than the bot delivers is a wiring mistake:
// New refuses it, naming both rates, and closes the sink it was given.
func TestNewRefusesASinkOfAnotherRate(t *testing.T) {
	fs, err := sink.NewFileSink(t.TempDir(), 48000, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mediabot.New(mediabot.Config{ClientID: "app", ClientSecret: "s", InboundJWKSURL: "http://127.0.0.1:1/keys", MediaBindIP: "127.0.0.1"}, mediabot.WithSink(fs))
	if err == nil || !strings.Contains(err.Error(), "48000") || !strings.Contains(err.Error(), "16000") {
		t.Errorf("New with a 48 kHz sink and a 16 kHz bot: %v, want a refusal naming both rates", err)
	}
	if err := fs.Close(); err == nil {
		t.Error("the refused sink was not closed by New")
	}
}
