package graphsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/mediabot-dev/mediabot/mediasession"
)

// mediaPeer is graphsim's side of a call's media: the Teams media processor
// that answers the bot's blob and sends each speaker on its own section.
type mediaPeer struct {
	pc     *webrtc.PeerConnection
	tracks []*webrtc.TrackLocalStaticRTP
	ssrcs  []uint32
}

// newMediaAPI builds a pion API that gathers loopback candidates only, so
// graphsim's media never leaves the machine.
func newMediaAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	opusCodec := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

// connectMedia answers the blob's offer with one send-only track per
// speaker (at most one per offered section), POSTs the answer to the blob's
// answerUri with its token, and returns once the answer was taken.
func connectMedia(ctx context.Context, api *webrtc.API, blob mediasession.Blob, speakers int, client *http.Client) (*mediaPeer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &mediaPeer{pc: pc}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: blob.Offer}); err != nil {
		pc.Close()
		return nil, fmt.Errorf("graphsim media: offer: %w", err)
	}
	if n := len(pc.GetTransceivers()); speakers > n {
		speakers = n
	}
	for i := range speakers {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
			fmt.Sprintf("audio%d", i), "teams-mp")
		if err != nil {
			pc.Close()
			return nil, err
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("graphsim media: add track: %w", err)
		}
		p.tracks = append(p.tracks, track)
		p.ssrcs = append(p.ssrcs, uint32(sender.GetParameters().Encodings[0].SSRC))
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
