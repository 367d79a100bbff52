package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestMain stops the PostgreSQL cluster that pgtest.NewDB starts for the
// PostgreSQL half of TestMonitoringMetricsExist.
func TestMain(m *testing.M) { pgtest.Main(m) }

// The storage modes, as the rules' mode label names them.
const (
	embedded = "embedded"
	postgres = "postgres"
)

// modeWords is how a panel's description names a mode.
func modeWords(mode string) string {
	if mode == postgres {
		return "PostgreSQL mode"
	}
	return "embedded mode"
}

// modesOf says which storage modes export a metric family. The list is what
// the kit relies on; TestMonitoringMetricsExist checks it against a server
// of each mode, both ways (present where listed, absent where not).
func modesOf(family string) []string {
	switch family {
	case "autorefresh_workqueue_depth", "autorefresh_cache_items":
		// The embedded engine's (internal/cache): the PostgreSQL mode runs
		// no such engine, it claims due items from the database
		// (internal/replicated) and has neither a work queue nor an
		// in-memory item count.
		return []string{embedded}
	case "autorefresh_stale_writes_total":
		// Leases and fencing exist only when replicas share a database.
		return []string{postgres}
	}
	return []string{embedded, postgres}
}

// eventOnly are families whose series appear only once what they count has
// happened: autorefresh_stale_writes_total{cache} has no series until a
// replica's lease lapses under a sync, which a test cannot cause through the
// API. For them the test asks that the server registers the family.
func eventOnly(family string) bool { return family == "autorefresh_stale_writes_total" }

// promMade are names the kit uses that Prometheus makes, not the server.
func promMade(name string) bool { return name == "up" }

var metricName = regexp.MustCompile(`\b(autorefresh_[a-z_]+|up)\b`)

// families returns the metric families a PromQL expression uses, histogram
// series folded into their family.
func families(expr string) []string {
	var out []string
	for _, m := range metricName.FindAllString(expr, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suffix)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// exprModes is the modes in which every metric of expr exists, so in which
// expr can give a result.
func exprModes(expr string) []string {
	modes := []string{embedded, postgres}
	for _, f := range families(expr) {
		if promMade(f) {
			continue
		}
		modes = slices.DeleteFunc(modes, func(m string) bool { return !slices.Contains(modesOf(f), m) })
	}
	return modes
}

// ruleFile is a Prometheus rule file; decoded with KnownFields so that a
// misspelt key (annotation, label) fails instead of being ignored.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readKitFile reads a file of deploy/monitoring and returns its path too,
// for messages.
func readKitFile(t *testing.T, name string) (string, []byte) {
	t.Helper()
	path := filepath.Join(root, "deploy", "monitoring", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	path, b := readKitFile(t, "alerts.yaml")
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Groups) == 0 {
		t.Fatalf("%s: no rule groups", path)
	}
	return f
}

// dashboard is the part of the Grafana JSON model the kit writes; decoded
// with DisallowUnknownFields, so a misspelt key fails. Parts Grafana reads
// but the test does not are kept raw.
type dashboard struct {
	Title         string            `json:"title"`
	UID           string            `json:"uid"`
	Description   string            `json:"description"`
	Tags          []string          `json:"tags"`
	Editable      bool              `json:"editable"`
	SchemaVersion int               `json:"schemaVersion"`
	Version       int               `json:"version"`
	Refresh       string            `json:"refresh"`
	Time          json.RawMessage   `json:"time"`
	Timezone      string            `json:"timezone"`
	Annotations   json.RawMessage   `json:"annotations"`
	Links         []json.RawMessage `json:"links"`
	Templating    struct {
		List []struct {
			Name        string          `json:"name"`
			Label       string          `json:"label"`
			Type        string          `json:"type"`
			Description string          `json:"description"`
			Datasource  *datasource     `json:"datasource"`
			Definition  string          `json:"definition"`
			Query       json.RawMessage `json:"query"` // a string or {query, refId}
			Multi       bool            `json:"multi"`
			IncludeAll  bool            `json:"includeAll"`
			AllValue    string          `json:"allValue"`
			Current     json.RawMessage `json:"current"`
			Refresh     int             `json:"refresh"`
			Sort        int             `json:"sort"`
			Hide        int             `json:"hide"`
			Options     json.RawMessage `json:"options"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID          int             `json:"id"`
		Type        string          `json:"type"`
		Title       string          `json:"title"`
		Description string          `json:"description"`
		Datasource  *datasource     `json:"datasource"`
		GridPos     json.RawMessage `json:"gridPos"`
		FieldConfig json.RawMessage `json:"fieldConfig"`
		Options     json.RawMessage `json:"options"`
		Collapsed   bool            `json:"collapsed"`
		Panels      json.RawMessage `json:"panels"`
		Targets     []struct {
			Datasource   *datasource `json:"datasource"`
			RefID        string      `json:"refId"`
			Expr         string      `json:"expr"`
			LegendFormat string      `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	path, b := readKitFile(t, "dashboard.json")
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: data after the dashboard object", path)
	}
	return d
}

// cacheQuery is the query of the dashboard's cache variable.
func cacheQuery(t *testing.T, d dashboard) string {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Name != "cache" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("dashboard: cache variable query: %v", err)
		}
		return q.Query
	}
	t.Fatal("dashboard: no cache template variable")
	return ""
}

// TestAlertRules checks what promtool does not: every rule has a for, a
// severity and a summary and description; rules that keep the cache label
// name the cache; and a rule whose metrics exist in one mode only says so
// with its mode label (and one that works in both has none).
func TestAlertRules(t *testing.T) {
	f := loadRules(t)
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert or expr", g.Name)
				continue
			}
			if _, err := time.ParseDuration(r.For); err != nil || r.For == "0s" {
				t.Errorf("%s: for %q is not a positive duration", r.Alert, r.For)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				} else if strings.Contains(r.Expr, "cache)") && !strings.Contains(r.Annotations[a], "{{ $labels.cache }}") {
					t.Errorf("%s: the alert has a cache label but its %s does not name it", r.Alert, a)
				}
			}
			switch modes := exprModes(r.Expr); len(modes) {
			case 0:
				t.Errorf("%s: mixes metrics of the embedded and the PostgreSQL mode; it can never fire", r.Alert)
			case 1:
				if r.Labels["mode"] != modes[0] {
					t.Errorf("%s: its metrics exist in the %s only; want label mode: %s, got %q", r.Alert, modeWords(modes[0]), modes[0], r.Labels["mode"])
				}
			default:
				if m, ok := r.Labels["mode"]; ok {
					t.Errorf("%s: works in both modes but is labelled mode: %s", r.Alert, m)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yaml: no rules")
	}
}

// TestDashboard checks the dashboard's variables and that every query goes
// through the ${datasource} variable and names its mode when it has one.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["cache"] != "query" {
		t.Errorf("dashboard: template variables %v, want datasource (datasource) and cache (query)", vars)
	}
	if q := cacheQuery(t, d); !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ", cache)") {
		t.Errorf("dashboard: cache variable query %q, want label_values(<metric>, cache)", q)
	}
	targets := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		for _, tg := range p.Targets {
			targets++
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q, query %s: datasource %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			if len(families(tg.Expr)) == 0 {
				t.Errorf("panel %q, query %s: no autorefresh metric in %q", p.Title, tg.RefID, tg.Expr)
			}
			switch modes := exprModes(tg.Expr); len(modes) {
			case 0:
				t.Errorf("panel %q, query %s: mixes metrics of both modes; it never shows anything", p.Title, tg.RefID)
			case 1:
				if !strings.Contains(p.Description, modeWords(modes[0])) {
					t.Errorf("panel %q, query %s: its metrics exist in the %s only and the description does not say so", p.Title, tg.RefID, modeWords(modes[0]))
				}
			}
		}
	}
	if targets == 0 {
		t.Fatal("dashboard: no queries")
	}
}

// usedFamilies is every metric family the rules and the dashboard use,
// with where each is used.
func usedFamilies(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(expr, where string) {
		for _, f := range families(expr) {
			used[f] = append(used[f], where)
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			add(r.Expr, "alert "+r.Alert)
		}
	}
	d := loadDashboard(t)
	add(cacheQuery(t, d), "dashboard variable cache")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			add(tg.Expr, "panel "+p.Title)
		}
	}
	return used
}

// TestMonitoringMetricsExist runs a server of each mode, makes it export the
// series the kit reads (a request, a cache whose webhook works, one whose
// webhook fails, an item in each), and checks that every family the
// rules and the dashboard use is there in each mode modesOf lists, and
// absent in the other, so that the mode-specific list stays true.
func TestMonitoringMetricsExist(t *testing.T) {
	used := usedFamilies(t)
	if len(used) == 0 {
		t.Fatal("the kit uses no metric")
	}
	for _, mode := range []string{embedded, postgres} {
		t.Run(mode, func(t *testing.T) {
			opts := backend.Options{InMemory: true}
			if mode == postgres {
				pgtest.SkipIfUnavailable(t)
				opts = backend.Options{PostgresURL: pgtest.NewDB(t)}
			}
			reg := &describedRegistry{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
			exerciseServer(t, opts, reg)

			var want, unwanted []string
			for f, where := range used {
				switch {
				case promMade(f):
				case slices.Contains(modesOf(f), mode):
					want = append(want, f)
				default:
					unwanted = append(unwanted, f+" (used by "+strings.Join(where, ", ")+")")
				}
			}
			// The series appear as the refresh syncs, which is
			// asynchronous: wait for them, with a deadline.
			var missing []string
			deadline := time.Now().Add(30 * time.Second)
			for {
				have := gathered(t, reg.Registry)
				missing = slices.DeleteFunc(slices.Clone(want), func(f string) bool {
					return have[f] || eventOnly(f) && reg.registered(f)
				})
				if len(missing) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, f := range missing {
				t.Errorf("%s mode does not export %s (used by %s)", mode, f, strings.Join(used[f], ", "))
			}
			have := gathered(t, reg.Registry)
			for _, u := range unwanted {
				if f, _, _ := strings.Cut(u, " "); have[f] || reg.registered(f) {
					t.Errorf("%s mode exports %s, which modesOf says it does not: update modesOf, the rule's mode label or the panel's description", mode, u)
				}
			}
		})
	}
}

// describedRegistry is a registry that also notes the name of every family
// registered with it, series or not, for the eventOnly families.
type describedRegistry struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

// fqName is the name in a Desc's String; Desc has no accessor for it.
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *describedRegistry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *describedRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *describedRegistry) registered(family string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[family]
}

// gathered is the set of family names reg has now.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	return have
}

// exerciseServer opens the service as cmd/server does, behind the HTTP
// handler, and drives it through the API: /readyz, a cache "ok" synced by the
// example upstream and a cache "failing" whose webhook answers 500, an item
// in each; the refresh (resyncPeriod 1s) then syncs them.
func exerciseServer(t *testing.T, opts backend.Options, reg *describedRegistry) {
	t.Helper()
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	okHook := httptest.NewServer(up)
	t.Cleanup(okHook.Close)
	failingHook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(failingHook.Close)

	log := zap.NewNop()
	opts.Registerer, opts.Logger = reg, log
	// The webhooks are on loopback.
	opts.Egress = &egress.Policy{AllowPrivate: true}
	b, err := backend.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewServer(handlers.Deps{
		Service: b.Service(), Watch: b.Hub(), Ready: b.Ready, Logger: log,
		Registerer: reg, Gatherer: reg.Registry, Spec: spec, SpecYAML: api.Spec(),
	})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string, want int) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
		}
	}
	do(http.MethodGet, "/readyz", "", http.StatusOK)
	for name, hook := range map[string]string{"ok": okHook.URL + "/sync", "failing": failingHook.URL} {
		do(http.MethodPut, "/v1/caches/"+name, `{"webhook": {"url": "`+hook+`"}, "resyncPeriod": "1s"}`, http.StatusCreated)
		do(http.MethodPost, "/v1/caches/"+name+"/items", `{"id": "a"}`, http.StatusCreated)
	}
}
