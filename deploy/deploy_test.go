// Package deploy checks the container files at the root of the repository
// (docker-compose.yml, Dockerfile) and the configuration they mount, without
// a container engine: what the compose stack publishes, what Prometheus
// scrapes, and that no image runs as root.
package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// root is the repository root, relative to this package's directory (the
// working directory of `go test`).
const root = ".."

// composeFile is the part of docker-compose.yml the tests look at. Fields
// with a short and a long syntax stay yaml.Nodes.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       yaml.Node         `yaml:"build"`
	Command     yaml.Node         `yaml:"command"`
	Ports       []yaml.Node       `yaml:"ports"`
	Volumes     []yaml.Node       `yaml:"volumes"`
	User        string            `yaml:"user"`
	ReadOnly    bool              `yaml:"read_only"`
	Profiles    []string          `yaml:"profiles"`
	Environment map[string]string `yaml:"environment"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var f composeFile
	decodeYAML(t, filepath.Join(root, "docker-compose.yml"), &f)
	return f
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func service(t *testing.T, f composeFile, name string) composeService {
	t.Helper()
	s, ok := f.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml: no service %q", name)
	}
	return s
}

// published is one port mapping of a service.
type published struct {
	hostIP, hostPort, target string
}

// ports reads both the short ("127.0.0.1:8080:8080/tcp") and the long
// ({target, published, host_ip}) port syntax.
func ports(t *testing.T, s composeService) []published {
	t.Helper()
	var out []published
	for _, n := range s.Ports {
		switch n.Kind {
		case yaml.ScalarNode:
			spec, _, _ := strings.Cut(n.Value, "/")
			var p published
			// host_ip may be an IPv6 address in brackets; the last two
			// colon-separated fields are always the ports.
			i := strings.LastIndex(spec, ":")
			if i < 0 {
				p.target = spec
			} else {
				p.target = spec[i+1:]
				rest := spec[:i]
				if j := strings.LastIndex(rest, ":"); j >= 0 {
					p.hostIP, p.hostPort = strings.Trim(rest[:j], "[]"), rest[j+1:]
				} else {
					p.hostPort = rest
				}
			}
			out = append(out, p)
		case yaml.MappingNode:
			var m struct {
				Target    string `yaml:"target"`
				Published string `yaml:"published"`
				HostIP    string `yaml:"host_ip"`
			}
			if err := n.Decode(&m); err != nil {
				t.Fatalf("port %v: %v", n.Value, err)
			}
			out = append(out, published{hostIP: m.HostIP, hostPort: m.Published, target: m.Target})
		default:
			t.Fatalf("port at line %d: neither a string nor a mapping", n.Line)
		}
	}
	return out
}

// args returns a service's command as a list of words; a string command is
// split on spaces, which is all these files need.
func args(t *testing.T, s composeService) []string {
	t.Helper()
	switch s.Command.Kind {
	case 0:
		return nil
	case yaml.ScalarNode:
		return strings.Fields(s.Command.Value)
	}
	var out []string
	if err := s.Command.Decode(&out); err != nil {
		t.Fatalf("command: %v", err)
	}
	return out
}

// flagValue finds --name=value or --name value in a command line.
func flagValue(words []string, name string) (string, bool) {
	for i, w := range words {
		w = "--" + strings.TrimLeft(w, "-")
		if v, ok := strings.CutPrefix(w, "--"+name+"="); ok {
			return v, true
		}
		if w == "--"+name {
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				return words[i+1], true
			}
			return "", true
		}
	}
	return "", false
}

// mount returns the source (a host path or a volume name) that a service
// mounts at target.
func mount(t *testing.T, s composeService, target string) (string, bool) {
	t.Helper()
	for _, n := range s.Volumes {
		var src, dst string
		switch n.Kind {
		case yaml.ScalarNode:
			parts := strings.Split(n.Value, ":")
			if len(parts) < 2 {
				continue
			}
			src, dst = parts[0], parts[1]
		case yaml.MappingNode:
			var m struct{ Source, Target string }
			if err := n.Decode(&m); err != nil {
				t.Fatalf("volume at line %d: %v", n.Line, err)
			}
			src, dst = m.Source, m.Target
		}
		if dst == target {
			return src, true
		}
	}
	return "", false
}

// buildTarget is the Dockerfile stage that a service builds ("" for the
// last stage), and whether it builds at all.
func buildTarget(t *testing.T, s composeService) (string, bool) {
	t.Helper()
	switch s.Build.Kind {
	case 0:
		return "", false
	case yaml.ScalarNode:
		return "", true
	}
	var b struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
		Target     string `yaml:"target"`
	}
	if err := s.Build.Decode(&b); err != nil {
		t.Fatalf("build: %v", err)
	}
	if b.Context != "" && b.Context != "." {
		t.Errorf("build context is %q; these tests read ./Dockerfile", b.Context)
	}
	if b.Dockerfile != "" && b.Dockerfile != "Dockerfile" {
		t.Errorf("build dockerfile is %q; these tests read ./Dockerfile", b.Dockerfile)
	}
	return b.Target, true
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	for _, name := range []string{"autorefresh", "upstream", "prometheus"} {
		service(t, f, name)
	}
}

func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	f := loadCompose(t)
	want := map[string]string{"autorefresh": "8080", "prometheus": "9090", "lb": "8081", "prometheus-replicated": "9091"}
	// The host port of the replicated profile differs from the container's.
	target := map[string]string{"lb": "8080", "prometheus-replicated": "9090"}
	for name, s := range f.Services {
		ps := ports(t, s)
		for _, p := range ps {
			if ip := net.ParseIP(p.hostIP); ip == nil || !ip.IsLoopback() {
				t.Errorf("service %s publishes %s on host address %q; publish on 127.0.0.1 only", name, p.target, p.hostIP)
			}
		}
		port, wanted := want[name]
		inside := port
		if v, ok := target[name]; ok {
			inside = v
		}
		if !wanted {
			if len(ps) > 0 {
				t.Errorf("service %s publishes ports %v; it should be reachable on the compose network only", name, ps)
			}
			continue
		}
		if !slices.ContainsFunc(ps, func(p published) bool {
			return p.hostIP == "127.0.0.1" && p.hostPort == port && p.target == inside
		}) {
			t.Errorf("service %s: want 127.0.0.1:%s:%s, have %v", name, port, inside, ps)
		}
	}
}

func TestComposeServerCommand(t *testing.T) {
	s := service(t, loadCompose(t), "autorefresh")
	words := args(t, s)
	if addr, _ := flagValue(words, "addr"); addr != ":8080" && addr != "0.0.0.0:8080" {
		t.Errorf("server --addr is %q, want :8080 (listening on every interface of the container)", addr)
	}
	// The upstream is on the private compose network.
	if v, ok := flagValue(words, "allow-private-webhooks"); !ok || (v != "" && v != "true") {
		t.Errorf("server command %q lacks --allow-private-webhooks", words)
	}
	up := service(t, loadCompose(t), "upstream")
	if addr, _ := flagValue(args(t, up), "addr"); addr != ":9000" && addr != "0.0.0.0:9000" {
		t.Errorf("upstream --addr is %q, want :9000 (its default, 127.0.0.1:9000, is unreachable from the server)", addr)
	}
}

func TestComposeServerDataOnVolume(t *testing.T) {
	s := service(t, loadCompose(t), "autorefresh")
	dir, ok := flagValue(args(t, s), "data-dir")
	if !ok {
		t.Fatal("server command sets no --data-dir; its default, ./data, is not writable by nonroot in the image")
	}
	src, mounted := mount(t, s, dir)
	if !mounted {
		t.Fatalf("--data-dir %s is not a mounted volume; the data would die with the container", dir)
	}
	if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
		t.Errorf("--data-dir %s is a bind mount of %s; a named volume gets the image directory's nonroot ownership, a host directory does not", dir, src)
	}
}

func TestComposeCachesFile(t *testing.T) {
	s := service(t, loadCompose(t), "autorefresh")
	path, ok := flagValue(args(t, s), "config")
	if !ok {
		t.Skip("the server registers no caches at start")
	}
	src, ok := mount(t, s, path)
	if !ok {
		t.Fatalf("--config %s is not mounted into the server", path)
	}
	if filepath.Clean(src) != filepath.Join("deploy", "compose", "caches.yaml") {
		t.Errorf("--config mounts %s, want ./deploy/compose/caches.yaml", src)
	}
	b, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	file, err := autorefresh.ParseFile(b)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	jobs, ok := file.Caches["jobs"]
	if !ok {
		t.Fatalf("%s registers no cache jobs; it has %v", src, file.Caches)
	}
	if got := jobs.Webhook.URL; got != "http://upstream:9000/sync" {
		t.Errorf("cache jobs webhook is %q, want http://upstream:9000/sync", got)
	}
	if jobs.ResyncPeriod == 0 {
		t.Errorf("cache jobs has no resyncPeriod")
	}
}

func TestPrometheusScrapesServer(t *testing.T) {
	s := service(t, loadCompose(t), "prometheus")
	if !strings.HasPrefix(s.Image, "prom/prometheus") {
		t.Errorf("prometheus image is %q", s.Image)
	}
	src, ok := mount(t, s, "/etc/prometheus/prometheus.yml")
	if !ok {
		t.Fatal("prometheus does not mount a config at /etc/prometheus/prometheus.yml")
	}
	if filepath.Clean(src) != filepath.Join("deploy", "prometheus", "prometheus.yml") {
		t.Errorf("prometheus mounts %s, want ./deploy/prometheus/prometheus.yml", src)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			ScrapeInterval string `yaml:"scrape_interval"`
			MetricsPath    string `yaml:"metrics_path"`
			Scheme         string `yaml:"scheme"`
			StaticConfigs  []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAML(t, filepath.Join(root, src), &cfg)
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if !slices.Contains(st.Targets, "autorefresh:8080") {
				continue
			}
			found = true
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				t.Errorf("job %s scrapes %s, want /metrics", sc.JobName, sc.MetricsPath)
			}
			if sc.Scheme != "" && sc.Scheme != "http" {
				t.Errorf("job %s uses scheme %s; the server serves plain http", sc.JobName, sc.Scheme)
			}
			interval := sc.ScrapeInterval
			if interval == "" {
				interval = cfg.Global.ScrapeInterval
			}
			if interval != "5s" {
				t.Errorf("job %s scrapes every %q, want 5s", sc.JobName, interval)
			}
		}
	}
	if !found {
		t.Error("no scrape config targets autorefresh:8080")
	}
}

// stage is one FROM block of the Dockerfile.
type stage struct {
	name, base string
	user       string // the last USER instruction, "" if none
}

// parseDockerfile reads the FROM and USER instructions, joining continued
// lines and skipping comments. It is enough for this repository's Dockerfile,
// not a general parser.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var logical strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(line)
		words := strings.Fields(logical.String())
		logical.Reset()
		if len(words) == 0 {
			continue
		}
		switch strings.ToUpper(words[0]) {
		case "FROM":
			var s stage
			rest := slices.DeleteFunc(words[1:], func(w string) bool { return strings.HasPrefix(w, "--") })
			if len(rest) == 0 {
				t.Fatalf("Dockerfile: FROM without an image: %q", words)
			}
			s.base = rest[0]
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				s.name = rest[2]
			}
			stages = append(stages, s)
		case "USER":
			if len(stages) == 0 || len(words) < 2 {
				t.Fatalf("Dockerfile: misplaced USER: %q", words)
			}
			stages[len(stages)-1].user = words[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return stages
}

// runsAsRoot reports whether a stage's containers run as root: by its USER,
// or, without one, by its base image (distroless ":nonroot" tags set uid
// 65532; any other base is assumed to run as root).
func runsAsRoot(s stage) (bool, string) {
	if s.user == "" {
		if strings.HasSuffix(s.base, ":nonroot") || strings.HasSuffix(s.base, "-nonroot") {
			return false, "base " + s.base
		}
		return true, fmt.Sprintf("no USER and base image %s", s.base)
	}
	user, _, _ := strings.Cut(s.user, ":")
	return user == "root" || user == "0", "USER " + s.user
}

func TestDockerfileRuntimeStagesAreNotRoot(t *testing.T) {
	stages := parseDockerfile(t)
	last := stages[len(stages)-1]
	if root, why := runsAsRoot(last); root {
		t.Errorf("the final stage %q runs as root (%s)", last.name, why)
	}
	// Every stage compose builds must exist and not run as root either.
	for name, s := range loadCompose(t).Services {
		target, builds := buildTarget(t, s)
		if !builds {
			continue
		}
		if s.User != "" {
			if u, _, _ := strings.Cut(s.User, ":"); u == "root" || u == "0" {
				t.Errorf("service %s overrides the user with %q", name, s.User)
			}
		}
		st := last
		if target != "" {
			i := slices.IndexFunc(stages, func(x stage) bool { return x.name == target })
			if i < 0 {
				t.Errorf("service %s builds target %q, which the Dockerfile lacks", name, target)
				continue
			}
			st = stages[i]
		}
		if root, why := runsAsRoot(st); root {
			t.Errorf("service %s runs stage %q as root (%s)", name, target, why)
		}
	}
}

// TestDockerignoreLetsTheBuildIn checks that the allow-list in .dockerignore
// covers every directory of this module that the two binaries are built
// from, so that `docker build` does not fail on a missing package.
func TestDockerignoreLetsTheBuildIn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) == 0 || patterns[0] != "*" {
		t.Fatalf(".dockerignore should start with * (an allow-list); it starts with %q", patterns[:min(1, len(patterns))])
	}
	allowed := map[string]bool{}
	for _, p := range patterns[1:] {
		if a, ok := strings.CutPrefix(p, "!"); ok {
			allowed[strings.Trim(a, "/")] = true
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !allowed[f] {
			t.Errorf(".dockerignore does not let %s in", f)
		}
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goBin, "list", "-deps",
		"-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}",
		"./cmd/server", "./cmd/example-upstream")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	for dir := range strings.Lines(string(out)) {
		dir = strings.TrimSpace(dir)
		if dir == "" {
			continue
		}
		rel, err := filepath.Rel(abs, dir)
		if err != nil {
			t.Fatal(err)
		}
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if !allowed[top] {
			t.Errorf("the build needs %s, but .dockerignore does not let %s/ in", rel, top)
		}
	}
}

// TestReplicatedProfile checks the scale-out stack: PostgreSQL, two replicas
// that get its URL from the environment (not the command line), nginx in
// front of both on one port, and a Prometheus that scrapes both.
func TestReplicatedProfile(t *testing.T) {
	f := loadCompose(t)
	for _, name := range []string{"postgres", "replica-1", "replica-2", "lb", "prometheus-replicated"} {
		s := service(t, f, name)
		if !slices.Contains(s.Profiles, "replicated") {
			t.Errorf("service %s is not in the replicated profile", name)
		}
	}
	for _, name := range []string{"replica-1", "replica-2"} {
		s := service(t, f, name)
		if !strings.HasPrefix(s.Environment["AUTOREFRESH_POSTGRES_URL"], "postgres://") {
			t.Errorf("%s: AUTOREFRESH_POSTGRES_URL = %q", name, s.Environment["AUTOREFRESH_POSTGRES_URL"])
		}
		if _, ok := flagValue(args(t, s), "--postgres"); ok {
			t.Errorf("%s: the database URL (with its password) is on the command line", name)
		}
		if _, ok := flagValue(args(t, s), "--data-dir"); ok {
			t.Errorf("%s: a replica keeps no local state", name)
		}
	}
	nginx, err := os.ReadFile(filepath.Join(root, "deploy/compose/nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server replica-1:8080;", "server replica-2:8080;", "proxy_buffering off;"} {
		if !bytes.Contains(nginx, []byte(want)) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAML(t, filepath.Join(root, "deploy/prometheus/prometheus-replicated.yml"), &prom)
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Contains(targets, "replica-1:8080") || !slices.Contains(targets, "replica-2:8080") {
		t.Errorf("the replicas' Prometheus scrapes %v", targets)
	}
}
