package robustness

import (
	"testing"
)

func checkReplay(t *testing.T, cfg config, bin string, m mode) {
	t.Skip("not yet")
}
