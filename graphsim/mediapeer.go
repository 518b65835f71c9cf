package graphsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/mediabot-dev/mediabot/internal/loopback"
	"github.com/mediabot-dev/mediabot/mediasession"
)

// mediaPeer is graphsim's side of a call's media: the Teams media processor
// that answers the bot's blob and sends each speaker on its own section.
type mediaPeer struct {
	pc     *webrtc.PeerConnection
	tracks []*webrtc.TrackLocalStaticRTP
	ssrcs  []uint32
	// levelIDs is, per track, the id the RFC 6464 audio level extension
	// was negotiated under on its section: the one the bot's offer gave,
	// which graphsim's answer echoes; 0 when the offer had none.
	levelIDs []uint8
}

// audioLevelURI names the RFC 6464 client-to-mixer audio level header
// extension.
const audioLevelURI = mediasession.AudioLevelURI

// newMediaAPI builds a pion API that gathers loopback candidates only, so
// graphsim's media never leaves the machine. It is lean, as the bot's is, so
// that a load test's sender costs little beside the bot it loads: no
// interceptors (pion's defaults add RTCP reports, NACK buffers and TWCC per
// packet and goroutines per connection) and no mDNS socket per connection.
// It knows the audio level header extension, so that its answer takes it
// wherever the offer has it, as a Teams client's does.
func newMediaAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []sendCodec{opusSend, pcmuSend} {
		if err := m.RegisterCodec(c.params, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("graphsim media: register %s: %w", c.params.MimeType, err)
		}
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("graphsim media: register the audio level extension: %w", err)
	}
	se := loopback.SettingEngine()
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

// connectMedia answers the blob's offer with one send-only track per
// speaker, in that speaker's codec (at most one per offered section), POSTs
// the answer to the blob's answerUri with its token, and returns once the
// answer was taken.
func connectMedia(ctx context.Context, api *webrtc.API, blob mediasession.Blob, speakers []sendCodec, client *http.Client) (*mediaPeer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &mediaPeer{pc: pc}
	var senders []*webrtc.RTPSender
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: blob.Offer}); err != nil {
		pc.Close()
		return nil, fmt.Errorf("graphsim media: offer: %w", err)
	}
	if n := len(pc.GetTransceivers()); len(speakers) > n {
		speakers = speakers[:n]
	}
	for i, codec := range speakers {
		track, err := webrtc.NewTrackLocalStaticRTP(codec.params.RTPCodecCapability, fmt.Sprintf("audio%d", i), "teams-mp")
		if err != nil {
			pc.Close()
			return nil, err
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("graphsim media: add track: %w", err)
		}
		if err := answerWith(pc, sender, codec); err != nil {
			pc.Close()
			return nil, err
		}
		p.tracks = append(p.tracks, track)
		p.ssrcs = append(p.ssrcs, uint32(sender.GetParameters().Encodings[0].SSRC))
		senders = append(senders, sender)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("graphsim media: answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		pc.Close()
		return nil, err
	}
	<-gathered
	for _, sender := range senders {
		p.levelIDs = append(p.levelIDs, negotiatedID(sender, audioLevelURI))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, blob.AnswerURI, bytes.NewReader([]byte(pc.LocalDescription().SDP)))
	if err != nil {
		pc.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+blob.Token)
	resp, err := client.Do(req)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("graphsim media: post answer: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		pc.Close()
		return nil, fmt.Errorf("graphsim media: answer refused: %s %s", resp.Status, bytes.TrimSpace(body))
	}
	return p, nil
}

// answerWith narrows the codecs answered on sender's section to the one it
// sends, as a Teams media processor or PSTN gateway answers. pion otherwise
// answers every codec both sides know, in the offer's order (Opus first),
// on every section: the transceiver takes its preferences from the remote
// offer, not from the track, which only picks the payload type it sends.
func answerWith(pc *webrtc.PeerConnection, sender *webrtc.RTPSender, codec sendCodec) error {
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == sender {
			if err := t.SetCodecPreferences([]webrtc.RTPCodecParameters{codec.params}); err != nil {
				return fmt.Errorf("graphsim media: answer %s: %w", codec.params.MimeType, err)
			}
			return nil
		}
	}
	return fmt.Errorf("graphsim media: no transceiver for track %s", sender.Track().ID())
}

// negotiatedID is the id sender sends header extension uri under, 0 when
// it was not negotiated (or under an id the one-byte form cannot carry).
func negotiatedID(sender *webrtc.RTPSender, uri string) uint8 {
	for _, ext := range sender.GetParameters().HeaderExtensions {
		if ext.URI == uri && ext.ID >= 1 && ext.ID <= 14 {
			return uint8(ext.ID)
		}
	}
	return 0
}

// waitConnected blocks until ICE and DTLS are up or the timeout passes.
func (p *mediaPeer) waitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		switch p.pc.ConnectionState() {
		case webrtc.PeerConnectionStateConnected:
			return nil
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("graphsim media: connection %s", p.pc.ConnectionState())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("graphsim media: not connected after %s", timeout)
}

// send writes one RTP packet on speaker i's section.
func (p *mediaPeer) send(i int, pkt *rtp.Packet) error {
	return p.tracks[i].WriteRTP(pkt)
}

func (p *mediaPeer) close() error { return p.pc.Close() }

// vanish cuts the connection as a host that crashed or dropped off the
// network does: the ICE transport closes its sockets under DTLS, so no
// close_notify goes out (nor an RTCP BYE: graphsim runs no interceptors),
// and nothing is sent or answered from then on, ICE checks included.
func (p *mediaPeer) vanish() error {
	return p.pc.SCTP().Transport().ICETransport().Stop()
}
