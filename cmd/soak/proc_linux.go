package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// childAttr puts the server in its own process group, so that a Ctrl-C in
// the terminal reaches the soak alone and the soak stops the server in
// order, and has the kernel kill it if the soak dies without doing so.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// selfCPU is the CPU time, user and system, this process has used, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// machineCPU is the CPU time, in seconds, that all CPUs together spent busy
// (everything but idle and iowait) and stolen by the hypervisor, since boot.
func machineCPU() (busy, steal float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	var v [8]float64
	for i := range v {
		v[i], err = strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			return 0, 0, false
		}
	}
	// user nice system idle iowait irq softirq steal, in USER_HZ (100/s);
	// guest time is already in user.
	const hz = 100
	busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / hz
	return busy, v[7] / hz, true
}
