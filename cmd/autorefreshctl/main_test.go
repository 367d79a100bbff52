package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests run real servers and watches; every one must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
