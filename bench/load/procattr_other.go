//go:build !linux

package main

import "syscall"

// childAttr puts a child in its own process group, so that stopping it
// reaches whatever it starts. Only Linux has a parent-death signal: here a
// child outlives this process when it dies of SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
