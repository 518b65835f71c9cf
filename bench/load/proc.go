package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

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

// cpuSeconds is the user and system CPU time pid has used, from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// rssBytes is pid's resident set size, VmRSS in /proc/<pid>/status.
func rssBytes(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("proc status: no VmRSS")
}

// machineBusySeconds is the CPU time all cores have spent not idle (nor
// waiting for I/O) since boot, from the first line of /proc/stat.
func machineBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("proc stat: no cpu line")
	}
	busy := uint64(0)
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return float64(busy) / clockTicks, nil
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

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// socket's receive buffer was full (Udp RcvbufErrors in /proc/net/snmp),
// machine-wide: on loopback, the bot's media socket is where they happen.
func udpRcvbufErrors() (float64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				return strconv.ParseFloat(f[i], 64)
			}
		}
	}
	return 0, errors.New("proc net snmp: no Udp RcvbufErrors")
}
