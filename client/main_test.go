package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Watch and LongPoll hold connections open; every test must leave none
// (nor any goroutine) behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
