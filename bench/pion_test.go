package bench

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/mediabot-dev/mediabot/internal/loopback"
)

// BenchmarkPionReceive measures what pion costs per received audio packet
// on a real loopback connection (ICE, DTLS-SRTP with AES-GCM), one op = one
// packet written by a sender and read by the receiver with TrackRemote.Read
// into a reused buffer. "tuned" is the bot's setting (no interceptors);
// "default" registers pion's default interceptors (NACK, RTCP reports,
// stats, TWCC), which allocate per packet. Sender cost is included in both,
// so the difference is the interceptors' cost.
func BenchmarkPionReceive(b *testing.B) {
	for _, tc := range []struct {
		name     string
		defaults bool
	}{{"tuned", false}, {"default", true}} {
		b.Run(tc.name, func(b *testing.B) {
			send, recv := connectPair(b, tc.defaults)
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 80)}
			buf := make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// past the set-up packets: SRTP replay protection drops reused numbers
				pkt.SequenceNumber, pkt.Timestamp = uint16(1000+i), uint32(i*960)
				if err := send.WriteRTP(pkt); err != nil {
					b.Fatal(err)
				}
				if _, _, err := recv.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// connectPair connects two peer connections on loopback and returns the
// sender's track and the receiver's remote track once the first packet has
// arrived.
func connectPair(b *testing.B, defaults bool) (*webrtc.TrackLocalStaticRTP, *webrtc.TrackRemote) {
	b.Helper()
	api := func() *webrtc.API {
		m := &webrtc.MediaEngine{}
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
			b.Fatal(err)
		}
		reg := &interceptor.Registry{}
		if defaults {
			if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
				b.Fatal(err)
			}
		}
		se := loopback.SettingEngine()
		return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg))
	}
	rx, err := api().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	tx, err := api().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close(); rx.Close() })
	if _, err := rx.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		b.Fatal(err)
	}
	tracks := make(chan *webrtc.TrackRemote, 1)
	rx.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { tracks <- t })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.AddTrack(track); err != nil {
		b.Fatal(err)
	}
	for _, step := range []func() error{
		func() error {
			offer, err := rx.CreateOffer(nil)
			if err != nil {
				return err
			}
			done := webrtc.GatheringCompletePromise(rx)
			if err := rx.SetLocalDescription(offer); err != nil {
				return err
			}
			<-done
			return tx.SetRemoteDescription(*rx.LocalDescription())
		},
		func() error {
			answer, err := tx.CreateAnswer(nil)
			if err != nil {
				return err
			}
			done := webrtc.GatheringCompletePromise(tx)
			if err := tx.SetLocalDescription(answer); err != nil {
				return err
			}
			<-done
			return rx.SetRemoteDescription(*tx.LocalDescription())
		},
	} {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 80)}
	for {
		select {
		case t := <-tracks:
			buf := make([]byte, 1500)
			for range 3 { // settle: the first packets trigger track setup
				if err := track.WriteRTP(pkt); err != nil {
					b.Fatal(err)
				}
				pkt.SequenceNumber++
				if _, _, err := t.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			return track, t
		case <-deadline:
			b.Fatal("no track after 10 s")
		case <-time.After(10 * time.Millisecond):
			_ = track.WriteRTP(pkt)
			pkt.SequenceNumber++
		}
	}
}
