package netaddr

import "testing"

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9440": true, "127.0.0.1": true, "[::1]:9440": true, "::1": true, "localhost:80": true,
		"0.0.0.0:9440": false, "[::]:9440": false, "10.0.0.1:9440": false, "bot.example.com:443": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
