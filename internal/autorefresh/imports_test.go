package autorefresh_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import rules of the module, which keep this package at the bottom and
// the two storage modes side by side. They are what docs/architecture.md
// draws; a change that needs to break one should change the picture too.
//
//   - The domain (internal/autorefresh) imports no storage mode, nor the
//     HTTP layer, nor the wiring package, nor the engine: its types (Item,
//     Info, Stats, Event) are its own, and the watch hub takes them too.
//   - A storage mode imports neither the other mode nor the HTTP layer. The
//     embedded mode is internal/registry over internal/store (registry may
//     import store, not the reverse); the PostgreSQL mode is
//     internal/replicated.
//   - The engine (internal/cache) imports nothing of the service but errs.
//   - The HTTP layer imports the domain and its own helpers (auth, watch,
//     swaggerui, record's data rule, the web assets and the spec), never a
//     mode nor the engine; its tests build their service through the
//     wiring package.
//   - Only cmd/ and the wiring package (internal/backend) import the
//     storage modes; nothing imports cmd/.

const mod = "github.com/autorefresh/autorefresh/"

const (
	domain     = mod + "internal/autorefresh"
	engine     = mod + "internal/cache"
	errsPkg    = mod + "internal/errs"
	handlers   = mod + "internal/handlers"
	registry   = mod + "internal/registry"
	store      = mod + "internal/store"
	storetest  = mod + "internal/store/storetest"
	replicated = mod + "internal/replicated"
	wiring     = mod + "internal/backend"
)

// pkg is one package of the module as go list sees it.
type pkg struct {
	path                string
	imports, deps       []string // the module's own only
	testImports, xtests []string
}

func (p pkg) dependsOn(q string) bool { return slices.Contains(p.deps, q) }

// listPackages runs go list over the whole module.
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	const format = `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}|{{join .TestImports " "}}|{{join .XTestImports " "}}`
	cmd := exec.Command("go", "list", "-e", "-f", format, mod+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	own := func(field string) []string {
		var ps []string
		for _, p := range strings.Fields(field) {
			if strings.HasPrefix(p, mod) {
				ps = append(ps, p)
			}
		}
		return ps
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 5 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		pkgs[f[0]] = pkg{path: f[0], imports: own(f[1]), deps: own(f[2]), testImports: own(f[3]), xtests: own(f[4])}
	}
	for _, p := range []string{domain, engine, handlers, registry, store, replicated} {
		if _, ok := pkgs[p]; !ok {
			t.Fatalf("go list does not list %s; update the rules", p)
		}
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	forbid := func(from string, to ...string) {
		t.Helper()
		p := pkgs[from]
		for _, q := range to {
			if p.dependsOn(q) {
				t.Errorf("%s depends on %s", strings.TrimPrefix(from, mod), strings.TrimPrefix(q, mod))
			}
		}
	}
	forbid(domain, registry, store, replicated, handlers, wiring)
	// The domain's own types (Item, Info, Stats, Event) are what the
	// modes hand up: neither the domain nor the watch hub, which both
	// modes feed, takes the engine's.
	for _, p := range []string{domain, mod + "internal/watch"} {
		if slices.Contains(pkgs[p].imports, engine) {
			t.Errorf("%s imports internal/cache; it takes the domain's types", strings.TrimPrefix(p, mod))
		}
	}
	forbid(registry, replicated, handlers, wiring)
	forbid(store, registry, replicated, handlers, wiring)
	forbid(replicated, registry, store, handlers, wiring)
	forbid(handlers, registry, store, replicated, wiring)
	httpAllowed := []string{domain, errsPkg, mod + "internal/auth", mod + "internal/watch", mod + "internal/swaggerui",
		mod + "internal/record", mod + "internal/logging", mod + "web", mod + "api"}
	for _, q := range pkgs[handlers].imports {
		if !slices.Contains(httpAllowed, q) {
			t.Errorf("internal/handlers imports %s; the HTTP layer talks to the domain only", strings.TrimPrefix(q, mod))
		}
	}

	for _, q := range pkgs[engine].deps {
		if q != errsPkg {
			t.Errorf("internal/cache (the engine) depends on %s; it may use only internal/errs", strings.TrimPrefix(q, mod))
		}
	}

	modes := []string{registry, store, replicated}
	for _, p := range pkgs {
		for _, q := range p.deps {
			if strings.HasPrefix(q, mod+"cmd/") {
				t.Errorf("%s depends on %s: nothing imports a command", strings.TrimPrefix(p.path, mod), strings.TrimPrefix(q, mod))
			}
		}
		if strings.HasPrefix(p.path, mod+"cmd/") || p.path == wiring || slices.Contains(modes, p.path) || p.path == storetest {
			continue
		}
		for _, q := range p.imports {
			if slices.Contains(modes, q) {
				t.Errorf("%s imports the storage mode %s; only cmd/ and internal/backend do", strings.TrimPrefix(p.path, mod), strings.TrimPrefix(q, mod))
			}
		}
	}
	// The HTTP layer's tests open their service as cmd/server does, through
	// the wiring package, so that they test what is served.
	h := pkgs[handlers]
	for _, q := range append(h.testImports, h.xtests...) {
		if slices.Contains(modes, q) {
			t.Errorf("the tests of internal/handlers import %s; open the service with internal/backend", strings.TrimPrefix(q, mod))
		}
	}
}
