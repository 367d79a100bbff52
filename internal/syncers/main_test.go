package syncers

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a server
// handler that never returned or a connection that was never closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
