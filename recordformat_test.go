package mediabot_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabot-dev/mediabot"
	"github.com/mediabot-dev/mediabot/audio"
	"github.com/mediabot-dev/mediabot/event"
	"github.com/mediabot-dev/mediabot/graphsim"
	"github.com/mediabot-dev/mediabot/internal/audiotest"
	"github.com/mediabot-dev/mediabot/internal/oggtest"
	"github.com/mediabot-dev/mediabot/internal/wavtest"
	"github.com/mediabot-dev/mediabot/mediabottest"
)

// Recording without decoding: with Ogg Opus files and no other consumer
// of PCM, each Teams participant's packets are kept as received in
// {participantId}.opus on the media clock (a participant who joins 1 s
// late has 1 s of silence first; a DTX pause keeps its length), the files
// decode with libopus (and opusdec, where installed) to the sources' pitch
// and duration, names given late by the roster rename ssrc-{n}.opus, a
// phone leg is still decoded to its WAV, and the speech of a sender of RFC
// 6464 levels is still found, from the levels.
func TestOpusRecordingKeepsThePacketsOnTheMediaClock(t *testing.T) {
	sim := startSim(t)
	log := &eventLog{}
	packets := &packetLog{per: map[uint32]int{}}
	srv, err := mediabottest.Start(mediabottest.Options{Sim: sim, OutDir: t.TempDir(), RecordOpus: true,
		BotOptions: []mediabot.Option{mediabot.WithEventConsumer(log), mediabot.WithPacketConsumer(packets)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const phone = "+14255550123"
	freqs := []float64{220, 440, 700}
	aliceTalk := []graphsim.Span{{Start: 0, End: 1200 * time.Millisecond}, {Start: 2000 * time.Millisecond, End: 3000 * time.Millisecond}}
	res, err := sim.PlayCall(context.Background(), graphsim.Scenario{BotURL: srv.Webhook, Duration: 3 * time.Second, RosterAfter: 500 * time.Millisecond,
		Participants: []graphsim.Participant{
			{DisplayName: "Alice", Voice: graphsim.Voice{FundamentalHz: freqs[0], SyllableHz: 3}, Talk: aliceTalk, AudioLevels: true},
			{DisplayName: "Bob", Voice: graphsim.Voice{FundamentalHz: freqs[1], SyllableHz: 4}, JoinAt: time.Second},
			{Phone: phone, Voice: graphsim.Voice{FundamentalHz: freqs[2], SyllableHz: 4}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	dir := filepath.Join(srv.OutDir, res.CallID)
	alice, bob, phoneID := res.Participants[0], res.Participants[1], res.Participants[2]
	all := log.of(res.CallID, allTypes...)
	// graphsim's 0 on the bot's media clock, for each stream (see anchor):
	// Alice's first packet is her first word, Bob's comes when he joins.
	offsets := map[string]time.Duration{alice: anchor(t, all, res.SSRCs[alice], 0), bob: anchor(t, all, res.SSRCs[bob], time.Second)}
	offset := offsets[alice]
	const rate = 48000
	at := func(d time.Duration) int { return int((d + offset).Seconds() * rate) }

	a := oggtest.Decode(t, filepath.Join(dir, alice+".opus"))
	if got, want := len(a), at(3*time.Second); got < want-rate/50 || got > want+rate/50 {
		t.Errorf("Alice: %.3f s decoded, want %.3f s (to her last packet, on the media clock)", float64(got)/rate, float64(want)/rate)
	}
	for _, sp := range aliceTalk {
		if d := audiotest.Dominant(a[at(sp.Start)+rate/10:at(sp.End)], rate, freqs); d != 0 {
			t.Errorf("Alice from %s: dominant %.0f Hz, want %.0f Hz", sp.Start, freqs[d], freqs[0])
		}
	}
	offset = offsets[bob]
	b := oggtest.Decode(t, filepath.Join(dir, bob+".opus"))
	if lead := audiotest.RMS(b[:at(time.Second)*9/10]); lead > 1 {
		t.Errorf("Bob: RMS %.1f in the second before he joined, want silence", lead)
	}
	if d := audiotest.Dominant(b[at(time.Second)+rate/10:], rate, freqs); d != 1 {
		t.Errorf("Bob: dominant %.0f Hz, want %.0f Hz", freqs[d], freqs[1])
	}
	if got, want := len(b), at(3*time.Second); got < want-rate/50 || got > want+rate/50 {
		t.Errorf("Bob: %.3f s decoded, want %.3f s", float64(got)/rate, float64(want)/rate)
	}
	if ssrcFiles, _ := filepath.Glob(filepath.Join(dir, "ssrc-*")); len(ssrcFiles) != 0 {
		t.Errorf("files still named by SSRC after the roster named them: %v", ssrcFiles)
	}
	pcm, wavRate := wavtest.Read(t, filepath.Join(dir, phoneID+".wav"))
	if d := audiotest.Dominant(pcm[wavRate/2:], wavRate, freqs); d != 2 {
		t.Errorf("phone leg: dominant %.0f Hz in its WAV, want %.0f Hz", freqs[d], freqs[2])
	}
	if _, err := os.Stat(filepath.Join(dir, phoneID+".opus")); err == nil {
		t.Error("a phone leg (G.711) recorded as Opus")
	}

	// An embedder's packet consumer got Bob's packets as sent (the first
	// may come before the roster names him), named once the roster did.
	if got, sent := packets.of(res.SSRCs[bob]), res.PacketsSent[bob]; got != sent || packets.name(res.SSRCs[bob]) != "Bob" {
		t.Errorf("packet consumer: %d packets of Bob's stream (named %q), %d sent", got, packets.name(res.SSRCs[bob]), sent)
	}

	speech := log.of(res.CallID, event.SpeechStarted, event.SpeechEnded)
	checkStretches(t, "Alice (levels, not decoded)", stretchesOf(t, speech, alice), aliceTalk, offsets[alice])
	if got := stretchesOf(t, speech, bob); len(got) != 0 {
		t.Errorf("Bob sends no levels and nothing decodes him, yet %d stretches of speech: %v", len(got), got)
	}

	if _, err := exec.LookPath("opusdec"); err != nil {
		t.Skip("opusdec not installed (apt-get install opus-tools): the files were read with libopus only")
	}
	for _, pid := range []string{alice, bob} {
		offset = offsets[pid]
		path := filepath.Join(dir, pid+".opus")
		if out, err := exec.Command("opusinfo", path).CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
			t.Errorf("opusinfo %s: %v\n%s", pid, err, out)
		}
		wav := filepath.Join(t.TempDir(), "out.wav")
		if out, err := exec.Command("opusdec", "--quiet", "--rate", "48000", path, wav).CombinedOutput(); err != nil {
			t.Fatalf("opusdec %s: %v\n%s", pid, err, out)
		}
		dec, _ := wavtest.Read(t, wav)
		if want := at(3 * time.Second); len(dec) < want-rate/50 || len(dec) > want+rate/50 {
			t.Errorf("opusdec %s: %.3f s, want %.3f s", pid, float64(len(dec))/rate, float64(want)/rate)
		}
	}
}

// packetLog is an embedder's consumer of Opus packets: it counts each
// stream's, and remembers who its roster named.
type packetLog struct {
	mu    sync.Mutex
	per   map[uint32]int
	names map[uint32]string
}

func (p *packetLog) WantsPackets(mimeType string) bool { return mimeType == "audio/opus" }

func (p *packetLog) Packet(f *audio.Frame) {
	if f.Payload == nil || f.PCM != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.per[f.SourceID()]++
	if f.Identity != nil {
		if p.names == nil {
			p.names = map[uint32]string{}
		}
		p.names[f.SourceID()] = f.Identity.DisplayName
	}
}

func (p *packetLog) of(source uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.per[source]
}

func (p *packetLog) name(source uint32) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[source]
}
