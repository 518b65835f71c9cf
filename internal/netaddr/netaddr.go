// Package netaddr answers questions about listen and remote addresses.
package netaddr

import (
	"net"
	"strings"
)

// IsLoopback reports whether hostport (or a bare host, or a URL's host) is
// a loopback address or localhost.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
