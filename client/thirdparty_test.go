package client_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestThirdPartyModule builds a program in a module of its own, outside
// this repository (a replace directive points at it), that imports only
// the public client and webhook packages, and runs it against a real
// server: what a user's code can reach is exactly what is public, and it
// is enough for a whole flow (create, sync through a webhook.Handler
// upstream, the terminal event, PATCH, delete).
func TestThirdPartyModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: not in -short")
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(file))
	src, err := os.ReadFile(filepath.Join(repo, "client", "testdata", "thirdparty", "main.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goMod := "module example.com/thirdparty\n\ngo 1.26\n\n" +
		"require github.com/autorefresh/autorefresh v0.0.0\n\n" +
		"replace github.com/autorefresh/autorefresh => " + repo + "\n"
	for name, text := range map[string]string{"go.mod": goMod, "main.go": string(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := startServer(serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		// -mod=mod lets the go command fill in go.sum from the module
		// cache; the replaced module's own requirements are all there.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "AUTOREFRESH_SERVER="+s.URL)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goCmd("mod", "tidy")
	if out := goCmd("run", "."); !strings.Contains(out, "flow ok") {
		t.Fatalf("the program said:\n%s", out)
	}
}
