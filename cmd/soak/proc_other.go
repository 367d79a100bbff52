//go:build !linux

package main

import "syscall"

// childAttr is Linux-only; elsewhere the server shares the soak's process
// group, so a Ctrl-C reaches it directly and it shuts down by itself.
func childAttr() *syscall.SysProcAttr { return nil }

// selfCPU is not measured outside Linux.
func selfCPU() float64 { return 0 }

// machineCPU is not measured outside Linux.
func machineCPU() (busy, steal float64, ok bool) { return 0, 0, false }
