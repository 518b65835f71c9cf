//go:build linux

package main

import "syscall"

// childAttr puts a child in its own process group, so that stopping it
// reaches whatever it starts, and has the kernel SIGKILL it when this
// process dies, even of SIGKILL, so that no bot or graphsim outlives the
// benchmark. (The signal follows the thread that started the child; the Go
// runtime ends a thread only when a goroutine locked to it returns without
// unlocking, which nothing here does.)
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
