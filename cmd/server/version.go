package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are stamped at link time by the Makefile and the
// Dockerfile (-ldflags "-X main.version=$(git describe --tags --always
// --dirty) -X main.revision=$(git rev-parse HEAD)"). They are constants of
// the binary, not state: nothing assigns them at run time. Unstamped, they
// come from the build info Go records when it builds from a checkout with
// VCS stamping on (-buildvcs).
var version, revision string

// buildInfo is what identifies this binary.
type buildInfo struct {
	Version, Revision, GoVersion string
}

// readBuildInfo gathers the binary's identity: what was stamped, else what
// Go recorded (the module version; the VCS revision, with "-dirty" for a
// modified tree), else "unknown".
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		if b.Revision == "" {
			b.Revision = vcsRevision(info.Settings)
		}
	}
	for _, f := range []*string{&b.Version, &b.Revision} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return b
}

// vcsRevision is the commit Go recorded, "" if none.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && rev != "" {
		rev += "-dirty"
	}
	return rev
}

// String is the --version line.
func (b buildInfo) String() string {
	return fmt.Sprintf("autorefresh %s (revision %s, %s)", b.Version, b.Revision, b.GoVersion)
}

// collector is autorefresh_build_info, always 1, labelled with the
// identity, as Prometheus' own build_info metrics are: a dashboard joins
// on it to show which version each instance runs.
func (b buildInfo) collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "autorefresh_build_info",
		Help:        "Always 1; its labels say which build of the server this is.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
