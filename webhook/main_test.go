package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The Handler tests run real servers and clients; every one must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
