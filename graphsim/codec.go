package graphsim

import "github.com/pion/webrtc/v4"

// sendCodec is how graphsim sends one participant: the codec negotiated on
// the participant's section, the RTP timestamp step of one 20 ms packet and
// how a voice becomes packets. A Teams client sends Opus; a phone reaches
// the call through a PSTN gateway that sends G.711 µ-law.
type sendCodec struct {
	params webrtc.RTPCodecParameters
	step   uint32
	encode func(v Voice, frames int) (encoding, error)
}

var (
	opusSend = sendCodec{
		params: webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: opusRate, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		step:   opusFrame,
		encode: Voice.encodeOpus,
	}
	pcmuSend = sendCodec{
		params: webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypePCMU, ClockRate: pcmuRate, Channels: 1}},
		step:   pcmuFrame,
		encode: func(v Voice, frames int) (encoding, error) { return v.encodePCMU(frames), nil },
	}
)

// codec is the codec p is sent in: PCMU for a phone, Opus for a Teams user.
func (p *Participant) codec() sendCodec {
	if p.Phone != "" {
		return pcmuSend
	}
	return opusSend
}
