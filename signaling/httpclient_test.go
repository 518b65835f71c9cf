package signaling

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A second round of concurrent requests reuses the first round's
// connections (Go's default keeps two idle and would open the rest anew).
func TestHTTPClientKeepsConnectionsForConcurrentRequests(t *testing.T) {
	const concurrent = 16
	var opened atomic.Int32
	var inside sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Done()
		inside.Wait() // every request of the round in flight at once
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := NewHTTPClient(10 * time.Second)
	round := func() int32 {
		before := opened.Load()
		inside.Add(concurrent)
		var done sync.WaitGroup
		for range concurrent {
			done.Go(func() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		done.Wait()
		return opened.Load() - before
	}
	if first := round(); first != concurrent {
		t.Fatalf("first round opened %d connections, want %d", first, concurrent)
	}
	time.Sleep(50 * time.Millisecond) // the transport takes connections back on its read loops
	if second := round(); second > 2 {
		t.Errorf("second round opened %d new connections of %d, want them reused", second, concurrent)
	}
}
