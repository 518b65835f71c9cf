// Package testwait waits in tests for what happens on other goroutines:
// a call to end, a file to appear, a status to change.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every 20 ms until it holds, and fails the test, naming
// what it waited for, when it does not within d.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
