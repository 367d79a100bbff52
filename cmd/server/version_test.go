package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// --version prints one line naming the build and exits without starting
// anything.
func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"autorefresh", "--version"}, func(string) string { return "" }, &out,
		func(code int) { t.Errorf("exit(%d) called", code) })
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	line := out.String()
	if !strings.HasPrefix(line, "autorefresh ") || !strings.Contains(line, runtime.Version()) ||
		strings.Count(line, "\n") != 1 {
		t.Fatalf("--version printed %q, want one line with the version and %s", line, runtime.Version())
	}
}

// The stamped version and revision win over what Go recorded, and the
// metric carries them, with value 1.
func TestBuildInfoMetric(t *testing.T) {
	b := buildInfo{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.99"}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.collector())
	want := `
# HELP autorefresh_build_info Always 1; its labels say which build of the server this is.
# TYPE autorefresh_build_info gauge
autorefresh_build_info{goversion="go1.99",revision="abc123",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "autorefresh_build_info"); err != nil {
		t.Fatal(err)
	}
	if got := readBuildInfo(); got.Version == "" || got.Revision == "" || got.GoVersion != runtime.Version() {
		t.Fatalf("readBuildInfo() = %+v: every field must be set (\"unknown\" at worst)", got)
	}
}
