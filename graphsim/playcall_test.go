package graphsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Many calls played at once from one Scenario value must not share its
// participants: run with -race.
func TestPlayCallsConcurrentlyFromOneScenario(t *testing.T) {
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer bot.Close()
	sim, err := Start(Config{TenantID: "t", ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sc := Scenario{BotURL: bot.URL, Participants: []Participant{{Voice: Cast[0].Voice}, {Voice: Cast[1].Voice}}}
	ids := make(chan string, 16)
	var wg sync.WaitGroup
	for range cap(ids) {
		wg.Go(func() {
			res, err := sim.PlayCall(context.Background(), sc)
			if !errors.Is(err, ErrRefused) {
				t.Errorf("err = %v, want ErrRefused", err)
				return
			}
			ids <- res.Participants[0]
		})
	}
	wg.Wait()
	close(ids)
	if sc.Participants[0].ID != "" {
		t.Error("PlayCall wrote the caller's Participants")
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("participant id %s used by two calls", id)
		}
		seen[id] = true
	}
}
