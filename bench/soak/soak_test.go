package main

import (
	"bytes"
	"testing"
)

// TestSoak is the soak in short, 10 s with 5 calls live, so that it keeps
// working: every plan plays at least once, and the process must come back
// to its baseline.
func TestSoak(t *testing.T) {
	var table, progress bytes.Buffer
	err := run([]string{"-duration", "10s", "-calls", "5", "-call-length", "4s"}, &table, &progress)
	t.Logf("\n%s\n%s", progress.String(), table.String())
	if err != nil {
		t.Fatal(err)
	}
}
