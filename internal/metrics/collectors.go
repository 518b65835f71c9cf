package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// callsByState reports the calls held by Graph call state.
type callsByState struct{ src Source }

var callsDesc = prometheus.NewDesc("mediabot_calls", "Calls this instance holds, by Graph call state.", []string{"state"}, nil)

func (c callsByState) Describe(ch chan<- *prometheus.Desc) { ch <- callsDesc }

// callStates are Graph's call states (callState), whose series exist from
// the start, at 0; a state Graph adds gets its series when a call is in it.
var callStates = []string{"incoming", "establishing", "established", "hold", "transferring",
	"transferAccepted", "redirecting", "terminating", "terminated"}

func (c callsByState) Collect(ch chan<- prometheus.Metric) {
	count := make(map[string]int, len(callStates))
	for _, state := range callStates {
		count[state] = 0
	}
	for _, state := range c.src.CallStates() {
		count[state]++
	}
	for state, n := range count {
		ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.GaugeValue, float64(n), state)
	}
}

// mediaPackets reports what the media ports did with connected peers'
// packets that no stream counter sees.
type mediaPackets struct{ src Source }

var mediaPacketsDesc = prometheus.NewDesc("mediabot_media_packets_total",
	"Packets from connected peers on the media ports, by result: srtp (delivered to a stream), rtcp (read, not decrypted), undecryptable (failed SRTP authentication), replayed (an authentic packet seen before: a network duplicate or a replay), unknown_ssrc (a source the answer did not declare, past the stream limit, or an unoffered payload type), oversize (a datagram from anyone too large for a media packet, dropped), unrecognized (a datagram from anyone that is no STUN, DTLS, RTP or RTCP by its first byte, dropped), unknown_sender (a datagram from an address no session is connected with that is no ICE check for a live session, dropped).",
	[]string{"result"}, nil)

func (m mediaPackets) Describe(ch chan<- *prometheus.Desc) { ch <- mediaPacketsDesc }

func (m mediaPackets) Collect(ch chan<- prometheus.Metric) {
	s := m.src.PortStats()
	for result, v := range map[string]uint64{"srtp": s.SRTP, "rtcp": s.RTCP,
		"undecryptable": s.Undecryptable, "replayed": s.Replayed, "unknown_ssrc": s.UnknownSSRC, "oversize": s.Oversize, "unrecognized": s.Unrecognized, "unknown_sender": s.UnknownSender} {
		ch <- prometheus.MustNewConstMetric(mediaPacketsDesc, prometheus.CounterValue, float64(v), result)
	}
}

// readerBusy reports each media port's reader time: its rate is the share of
// a core that port's one reader uses (full near 1, whatever the machine).
type readerBusy struct{ src Source }

var readerBusyDesc = prometheus.NewDesc("mediabot_media_reader_busy_seconds_total",
	"Time each media port's reader goroutine spent decrypting, decoding and delivering packets; its rate near 1 means the port is full (add --media-ports).",
	[]string{"port"}, nil)

func (m readerBusy) Describe(ch chan<- *prometheus.Desc) { ch <- readerBusyDesc }

func (m readerBusy) Collect(ch chan<- prometheus.Metric) {
	ports := m.src.MediaPorts()
	for i, busy := range m.src.ReaderBusy() {
		if i < len(ports) {
			ch <- prometheus.MustNewConstMetric(readerBusyDesc, prometheus.CounterValue, busy.Seconds(), strconv.Itoa(ports[i]))
		}
	}
}
