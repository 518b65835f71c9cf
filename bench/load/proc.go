package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is a subprocess the driver started: its output goes to a log file,
// line by line through lines so that the driver can wait for a ready line
// or read a totals line.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // valid once exited is closed
	lines  chan string
}

// start runs bin with args; its stdout and stderr go to logPath and each
// line also to the lines channel (dropped when nobody reads, never blocking).
func start(name, bin string, args []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{}), lines: make(chan string, 4096)}
	tracked := track(c) // before Wait can untrack it
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(logf, pr)
		logf.Close()
	}()
	go func() {
		c.err = cmd.Wait()
		untrack(c)
		pw.Close()
		<-read // every line is in lines (or the log) before exited closes
		close(c.exited)
	}()
	if !tracked { // an interrupt came while it started
		c.stop(interruptGrace)
		return nil, fmt.Errorf("start %s: %w", name, errInterrupted)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// alive reports whether the process has not exited yet.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL when the
// child has not exited after grace. It reports whether SIGKILL was needed.
func (c *child) stop(grace time.Duration) (killed bool) {
	if !c.alive() {
		return false
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGTERM)
	select {
	case <-c.exited:
		return false
	case <-time.After(grace):
		_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.exited
		return true
	}
}

// waitLine waits for a line containing want and returns it.
func (c *child) waitLine(want string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if strings.Contains(l, want) {
				return l, nil
			}
		case <-c.exited:
			return "", fmt.Errorf("%s exited before %q: %v", c.name, want, c.err)
		case <-deadline:
			return "", fmt.Errorf("%s: no %q after %s", c.name, want, timeout)
		}
	}
}

// setPriority gives c a nice value (negative needs root; a failure is
// reported and ignored): on a shared machine, the bot and graphsim run
// ahead of other people's builds.
func setPriority(c *child, nice int) {
	if nice == 0 {
		return
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, c.pid(), nice); err != nil {
		fmt.Fprintf(os.Stderr, "load: nice %d for %s: %v\n", nice, c.name, err)
	}
}
