package replicated

import (
	"testing"

	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/servicetest"
)

// TestConformance runs the service suite that the embedded registry runs
// too, against a fresh PostgreSQL database per case.
func TestConformance(t *testing.T) {
	pgtest.SkipIfUnavailable(t)
	servicetest.Run(t, func(t *testing.T, l servicetest.Limits) servicetest.Open {
		url := pgtest.NewDB(t)
		return func(t *testing.T) (servicetest.Service, func()) {
			opts := testOptions(t, url)
			opts.MaxCaches, opts.MaxItems = l.MaxCaches, l.MaxItems
			return startService(t, opts)
		}
	})
}
