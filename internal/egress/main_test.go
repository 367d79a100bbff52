package egress

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind, which for
// this package would mean a leaked connection or server handler.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
