package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfTheServer keeps the SDK light for its users: the
// client package (its tests aside) depends on the standard library alone,
// never on the server's internal packages nor their dependencies.
func TestImportsNothingOfTheServer(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for dep := range strings.Lines(string(out)) {
		if dep = strings.TrimSpace(dep); dep != "" && dep != "github.com/autorefresh/autorefresh/client" {
			t.Errorf("client depends on %s", dep)
		}
	}
}
