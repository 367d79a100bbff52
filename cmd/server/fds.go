package main

import (
	"fmt"
	"syscall"
)

// apiDescriptors is how many file descriptors are kept for the API, the
// data file and the database, above the webhook calls: whatever the
// upstreams do, /healthz and the API must still accept connections.
const apiDescriptors = 256

// checkDescriptors refuses a --max-webhook-calls that the process's file
// descriptor limit cannot hold with apiDescriptors to spare. (Go raises the
// soft limit to the hard one at start; this reads what it got.)
func checkDescriptors(maxCalls int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // no limit to read: nothing to check against
	}
	if need := uint64(maxCalls) + apiDescriptors; lim.Cur < need {
		return fmt.Errorf("--max-webhook-calls %d needs %d file descriptors with the %d kept for the API, but the limit is %d: lower it or raise the limit (ulimit -n)",
			maxCalls, need, apiDescriptors, lim.Cur)
	}
	return nil
}
