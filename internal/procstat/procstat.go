// Package procstat reads a process's and the machine's counters from /proc
// (Linux): CPU time, resident memory, open files, UDP drops. The load and
// soak benchmarks measure the bot with it.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPUSeconds is the user and system CPU time pid has used.
func CPUSeconds(pid int) (float64, error) {
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

// RSSBytes is pid's resident set size, VmRSS in /proc/<pid>/status.
func RSSBytes(pid int) (float64, error) {
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

// OpenFiles is what each of pid's file descriptors refers to, as
// /proc/<pid>/fd links read: a path (with " (deleted)" once unlinked),
// "socket:[inode]", "pipe:[inode]", "anon_inode:[eventpoll]", ...
func OpenFiles(pid int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	targets := make([]string, 0, len(entries))
	for _, e := range entries {
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the listing (the listing's own fd, for one)
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// MachineBusySeconds is the CPU time all cores have spent not idle (nor
// waiting for I/O) since boot, from the first line of /proc/stat.
func MachineBusySeconds() (float64, error) {
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

// UDPRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// socket's receive buffer was full (Udp RcvbufErrors in /proc/net/snmp),
// machine-wide: on loopback, the bot's media socket is where they happen.
func UDPRcvbufErrors() (float64, error) {
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

// LoadAverage is the machine's load average over 1, 5 and 15 minutes, as
// /proc/loadavg gives it, e.g. "3.02 2.87 2.10".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
