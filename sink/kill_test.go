package sink

import (
	"bufio"
	"bytes"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// killMidway starts child, which prints a running count on stdout, one
// number a line, and kills it with SIGKILL once the count reaches after
// (failing the test if it exits first, says anything else, or does not get
// there within). It returns the last count the child printed.
func killMidway(t *testing.T, child *exec.Cmd, after int, within time.Duration) int {
	t.Helper()
	var stderr bytes.Buffer
	child.Stderr = &stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	count := 0
	deadline := time.After(within)
	for count < after {
		select {
		case line, ok := <-lines:
			if !ok {
				child.Wait()
				t.Fatalf("child exited at %d: %s", count, stderr.String())
			}
			n, err := strconv.Atoi(line)
			if err != nil {
				child.Process.Kill()
				child.Wait()
				t.Fatalf("child: %s", line)
			}
			count = n
		case <-deadline:
			child.Process.Kill()
			child.Wait()
			t.Fatalf("child got only to %d in %s", count, within)
		}
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	for line := range lines { // drain, so the child's last writes cannot block
		if n, err := strconv.Atoi(line); err == nil {
			count = n
		}
	}
	if err := child.Wait(); err == nil {
		t.Fatal("child exited cleanly; it should have been killed")
	}
	return count
}
