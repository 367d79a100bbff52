package robustness

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// config sizes a run. The defaults keep the whole package within about 30 s
// under -race on a 2-core machine, for make test; make check-linearizable
// sets the ROBUSTNESS_* variables for a longer run.
type config struct {
	phases  int    // workload phases, each ended by a restart
	clients int    // concurrent clients per phase
	ops     int    // operations per client per phase, at most
	caches  int    // caches the workload uses
	items   int    // item ids per cache
	out     string // where failing histories are drawn
}

func loadConfig(t *testing.T) config {
	c := config{phases: 6, clients: 4, ops: 120, caches: 2, items: 5,
		out: filepath.Join(os.TempDir(), "autorefresh-robustness")}
	for _, v := range []struct {
		name string
		p    *int
	}{
		{"ROBUSTNESS_PHASES", &c.phases}, {"ROBUSTNESS_CLIENTS", &c.clients}, {"ROBUSTNESS_OPS", &c.ops},
		{"ROBUSTNESS_CACHES", &c.caches}, {"ROBUSTNESS_ITEMS", &c.items},
	} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive whole number", v.name, s)
			}
			*v.p = n
		}
	}
	if s := os.Getenv("ROBUSTNESS_OUT"); s != "" {
		c.out = s
	}
	return c
}
