package mediasession

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

// freePorts finds n consecutive free UDP ports on loopback.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for base := 42000; base < 60000; base += 97 {
		ok := true
		var conns []*net.UDPConn
		for i := range n {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + i})
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// With several media ports, sessions are spread over them in turn: each
// offer's candidates name one port, the next session's the next port.
func TestSessionsAreSpreadOverTheMediaPorts(t *testing.T) {
	base := freePorts(t, 2)
	e, err := NewEngine(EngineConfig{Port: base, Ports: 2, BindIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.MediaPorts(); len(got) != 2 || got[0] != base || got[1] != base+1 {
		t.Fatalf("ports %v, want [%d %d]", got, base, base+1)
	}
	for i := range 4 {
		s, err := e.NewSession(SessionConfig{CallID: "c", AudioSections: 4})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("127.0.0.1 %d typ host", base+i%2)
		if !strings.Contains(s.Blob().Offer, want) {
			t.Errorf("session %d: offer has no candidate %q", i, want)
		}
		s.Close()
	}
}

func TestSeveralMediaPortsNeedAFixedFirstPort(t *testing.T) {
	if _, err := NewEngine(EngineConfig{Ports: 2, BindIP: "127.0.0.1"}); !errors.Is(err, ErrBadEngineSetting) {
		t.Errorf("err %v, want ErrBadEngineSetting", err)
	}
}
