// Package loopback configures pion peers that stay on this machine: the
// emulated media processor, benchmarks and tests.
package loopback

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// SettingEngine gathers IPv4 loopback candidates only (no mDNS), so media
// never leaves the machine, and logs pion's errors only.
func SettingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = lf
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}
