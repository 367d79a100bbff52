// Package helm tests the chart in ./autorefresh without a cluster: the Helm
// SDK loads and lints it, renders it for the main combinations of values
// (with values.schema.json enforced, as helm install does), and every
// rendered document decodes strictly (unknown or repeated fields are errors)
// into the typed Kubernetes or Prometheus Operator object of its kind, as
// deploy/kubernetes/manifests_test.go does for the plain manifests. The
// assertions then look at what the server needs: its flags, probes, volumes,
// Secrets and security settings.
//
// This is a module of its own so that the server's go.mod does not depend on
// Helm: `cd deploy/helm && go test ./...` (make test-helm).
package helm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "autorefresh"
	release   = "demo"
	namespace = "apps"
	// fullname is the resource name for release "demo" of chart
	// "autorefresh".
	fullname = "demo-autorefresh"
	// kubeVersion is the cluster the chart is rendered for: Helm's test
	// default (1.20) is below the chart's kubeVersion.
	kubeVersion = "v1.33.0"
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load %s: %v", chartDir, err)
	}
	return ch
}

func capabilities(t *testing.T) *common.Capabilities {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	return caps
}

// values builds a values map from YAML, as -f would.
func values(t *testing.T, y string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatalf("values %q: %v", y, err)
	}
	return v
}

// renderErr renders the chart as `helm template` would: the values
// coalesced with values.yaml and checked against values.schema.json, then
// every template rendered (strictly: a template naming a value that does not
// exist fails).
func renderErr(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	opts := common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}
	top, err := chartutil.ToRenderValues(ch, vals, opts, capabilities(t))
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.Render(ch, top)
}

// rendered is a chart rendered and decoded: objects by "Kind/name", and
// NOTES.txt.
type rendered struct {
	objs  map[string]any
	notes string
}

func render(t *testing.T, y string) rendered {
	t.Helper()
	out, err := renderErr(t, values(t, y))
	if err != nil {
		t.Fatalf("render with %q: %v", y, err)
	}
	r := rendered{objs: map[string]any{}}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		text := out[name]
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.notes = text
			continue
		case !strings.HasSuffix(name, ".yaml"):
			continue
		}
		for _, doc := range splitDocs(t, name, text) {
			kind, obj := decodeStrict(t, name, doc)
			key := kind + "/" + obj.(metav1.Object).GetName()
			if _, dup := r.objs[key]; dup {
				t.Fatalf("%s rendered twice", key)
			}
			r.objs[key] = obj
		}
	}
	return r
}

// splitDocs cuts a rendered template into its YAML documents, leaving out
// those that hold nothing but comments.
func splitDocs(t *testing.T, name, text string) [][]byte {
	t.Helper()
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var docs [][]byte
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes one document into the typed object of its kind,
// refusing unknown and repeated fields.
func decodeStrict(t *testing.T, name string, doc []byte) (string, any) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		t.Fatalf("%s: unexpected %s %s", name, tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s does not decode strictly as %s: %v\n%s", name, tm.Kind, err, doc)
	}
	m := obj.(metav1.Object)
	if m.GetName() == "" {
		t.Fatalf("%s: %s without a name", name, tm.Kind)
	}
	// Every object carries the chart's labels.
	for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "helm.sh/chart"} {
		if m.GetLabels()[l] == "" {
			t.Errorf("%s %s: no label %s", tm.Kind, m.GetName(), l)
		}
	}
	return tm.Kind, obj
}

func get[T any](t *testing.T, r rendered, kind, name string) T {
	t.Helper()
	o, ok := r.objs[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %s; rendered: %v", kind, name, r.keys())
	}
	return o.(T)
}

func (r rendered) has(kind, name string) bool {
	_, ok := r.objs[kind+"/"+name]
	return ok
}

func (r rendered) kinds(kind string) []string {
	var out []string
	for k := range r.objs {
		if strings.HasPrefix(k, kind+"/") {
			out = append(out, k)
		}
	}
	return out
}

func (r rendered) keys() []string {
	var out []string
	for k := range r.objs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func appVersion(t *testing.T) string {
	t.Helper()
	return loadChart(t).Metadata.AppVersion
}

// flag finds --name=value in the container's args.
func flag(c corev1.Container, name string) (string, bool) {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name {
			return "", true
		}
	}
	return "", false
}

func server(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "autorefresh" {
		t.Fatalf("want one container, autorefresh; have %d", len(spec.Containers))
	}
	return spec.Containers[0]
}

// checkPod asserts what both modes' pods share.
func checkPod(t *testing.T, r rendered, tpl corev1.PodTemplateSpec, selector map[string]string) {
	t.Helper()
	spec := tpl.Spec
	c := server(t, spec)

	for k, v := range selector {
		if tpl.Labels[k] != v {
			t.Errorf("pod label %s=%q, the selector says %q", k, tpl.Labels[k], v)
		}
	}
	svc := get[*corev1.Service](t, r, "Service", fullname)
	if len(svc.Spec.Selector) == 0 {
		t.Error("the Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if tpl.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, the pods have %q", k, v, tpl.Labels[k])
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v, want one to the http port", svc.Spec.Ports)
	}

	// The image is pinned to the chart's appVersion.
	if want := "autorefresh:" + appVersion(t); c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		t.Errorf("image %q is not pinned", c.Image)
	}

	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("container ports %+v, want http 8080", c.Ports)
	}
	if v, _ := flag(c, "addr"); v != ":8080" {
		t.Errorf("--addr %q, want :8080", v)
	}

	// Probes: startup and liveness on /healthz, readiness on /readyz.
	probe := func(name string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET", name)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: GET %s on %s, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("startup", c.StartupProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")

	// The shutdown delay and drain fit in the grace period.
	delay, ok1 := flag(c, "shutdown-delay")
	timeout, ok2 := flag(c, "shutdown-timeout")
	if !ok1 || !ok2 || delay != "5s" || timeout != "15s" {
		t.Errorf("--shutdown-delay %q --shutdown-timeout %q, want 5s and 15s", delay, timeout)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 5+15 {
		t.Errorf("terminationGracePeriodSeconds %v, want at least delay + timeout (20)", g)
	}

	// No Kubernetes API token anywhere.
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the pod must not mount a service account token")
	}
	sa := get[*corev1.ServiceAccount](t, r, "ServiceAccount", fullname)
	if spec.ServiceAccountName != sa.Name {
		t.Errorf("pod service account %q, the chart's is %q", spec.ServiceAccountName, sa.Name)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount must not automount its token")
	}

	// Non-root, read-only, no capabilities, RuntimeDefault seccomp.
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("the pod must run as non-root")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("the pod must use the RuntimeDefault seccomp profile")
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("the container must not allow privilege escalation")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the container's root filesystem must be read-only")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Error("the container must drop ALL capabilities")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want a CPU request and a memory limit", c.Resources)
	}

	// The server reads AUTOREFRESH_* only.
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "AUTOREFRESH_") {
			t.Errorf("env %s: the server reads AUTOREFRESH_* only", e.Name)
		}
	}
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// TestLint runs Helm's linter (chart file, values against the schema,
// templates, dependencies) on the chart with its defaults and in
// PostgreSQL mode, and fails on any warning or error.
func TestLint(t *testing.T) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"postgres": values(t, "mode: postgres\npostgres: {existingSecret: pg}\nautoscaling: {enabled: true}\nserviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}\n"),
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.RunAll(chartDir, vals, namespace, lint.WithKubeVersion(kv))
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m.Error())
				} else {
					t.Log(m.Error())
				}
			}
		})
	}
}

func TestChartMetadata(t *testing.T) {
	ch := loadChart(t)
	md := ch.Metadata
	if md.APIVersion != chart.APIVersionV2 {
		t.Errorf("apiVersion %q, want v2", md.APIVersion)
	}
	if md.Version == "" || md.AppVersion == "" || md.AppVersion == "latest" {
		t.Errorf("version %q appVersion %q", md.Version, md.AppVersion)
	}
	if len(ch.Schema) == 0 {
		t.Error("no values.schema.json")
	}
}

// TestEmbeddedDefault: the default values run one server on a volume.
func TestEmbeddedDefault(t *testing.T) {
	r := render(t, "")
	sts := get[*appsv1.StatefulSet](t, r, "StatefulSet", fullname)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1 (bbolt has one writer)", sts.Spec.Replicas)
	}
	checkPod(t, r, sts.Spec.Template, sts.Spec.Selector.MatchLabels)
	if got := r.kinds("Deployment"); len(got) > 0 {
		t.Errorf("embedded mode renders %v", got)
	}
	for _, kind := range []string{"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "Secret"} {
		if got := r.kinds(kind); len(got) > 0 {
			t.Errorf("the defaults render %v", got)
		}
	}

	// The data directory is the claim's volume.
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Fatalf("volumeClaimTemplates %+v, want one named data", sts.Spec.VolumeClaimTemplates)
	}
	pvc := sts.Spec.VolumeClaimTemplates[0]
	if s := pvc.Spec.Resources.Requests.Storage(); s.String() != "1Gi" {
		t.Errorf("data volume size %s, want 1Gi", s)
	}
	c := server(t, sts.Spec.Template.Spec)
	dir, ok := flag(c, "data-dir")
	if !ok {
		t.Fatal("no --data-dir")
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "data" && m.MountPath == dir && !m.ReadOnly }) {
		t.Errorf("--data-dir %s is not the data volume: mounts %+v", dir, c.VolumeMounts)
	}
	if sts.Spec.Template.Spec.SecurityContext.FSGroup == nil {
		t.Error("no fsGroup: the nonroot user could not write the volume")
	}
	if env(c, "AUTOREFRESH_POSTGRES_URL") != nil {
		t.Error("embedded mode with a PostgreSQL URL")
	}
	if _, ok := flag(c, "auth-tokens-file"); ok {
		t.Error("--auth-tokens-file without tokens")
	}
	if len(sts.Spec.Template.Spec.TopologySpreadConstraints) > 0 {
		t.Error("topology spread for a single pod")
	}

	// The governing Service exists and is headless.
	hl := get[*corev1.Service](t, r, "Service", sts.Spec.ServiceName)
	if hl.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is not headless", hl.Name)
	}

	// A NetworkPolicy by default; no webhook CIDRs, public addresses only.
	np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Error("the NetworkPolicy leaves egress open by default")
	}
	if strings.Contains(r.notes, "PostgreSQL") || !strings.Contains(r.notes, "embedded mode") || !strings.Contains(r.notes, "the API is open") {
		t.Errorf("NOTES.txt:\n%s", r.notes)
	}
}

const pgValues = `
mode: postgres
replicaCount: 3
postgres: {existingSecret: autorefresh-postgres, secretKey: url}
`

// TestPostgres: N stateless replicas, their URL from a Secret.
func TestPostgres(t *testing.T) {
	r := render(t, pgValues)
	dep := get[*appsv1.Deployment](t, r, "Deployment", fullname)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", dep.Spec.Replicas)
	}
	checkPod(t, r, dep.Spec.Template, dep.Spec.Selector.MatchLabels)
	if got := r.kinds("StatefulSet"); len(got) > 0 {
		t.Errorf("postgres mode renders %v", got)
	}
	if r.has("HorizontalPodAutoscaler", fullname) {
		t.Error("an HPA without autoscaling.enabled")
	}
	if r.has("Service", fullname+"-headless") {
		t.Error("a headless Service without a StatefulSet")
	}
	spec := dep.Spec.Template.Spec
	c := server(t, spec)

	// No volume for data: nothing is kept on the pod.
	if _, ok := flag(c, "data-dir"); ok {
		t.Error("--data-dir in postgres mode")
	}
	if len(spec.Volumes) > 0 || len(c.VolumeMounts) > 0 {
		t.Errorf("volumes %+v mounts %+v in postgres mode", spec.Volumes, c.VolumeMounts)
	}

	// The URL from the Secret, never a literal or a flag.
	url := env(c, "AUTOREFRESH_POSTGRES_URL")
	if url == nil || url.Value != "" || url.ValueFrom == nil || url.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("AUTOREFRESH_POSTGRES_URL %+v: want it from a Secret", url)
	}
	if ref := url.ValueFrom.SecretKeyRef; ref.Name != "autorefresh-postgres" || ref.Key != "url" {
		t.Errorf("URL from %s/%s, want autorefresh-postgres/url", ref.Name, ref.Key)
	}
	if _, ok := flag(c, "postgres"); ok {
		t.Error("--postgres on the command line: ps shows it")
	}

	// Rolling updates never drop below the replicas.
	if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v, want maxUnavailable 0", ru)
	}

	pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", fullname)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	if !matches(pdb.Spec.Selector, dep.Spec.Template.Labels) {
		t.Error("the PDB does not select the pods")
	}

	if len(spec.TopologySpreadConstraints) != 2 {
		t.Fatalf("topology spread %+v, want zone and hostname", spec.TopologySpreadConstraints)
	}
	for _, tsc := range spec.TopologySpreadConstraints {
		if !matches(tsc.LabelSelector, dep.Spec.Template.Labels) {
			t.Errorf("spread over %s does not select the pods", tsc.TopologyKey)
		}
	}

	// Egress to PostgreSQL's port.
	np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
	if !slices.ContainsFunc(np.Spec.Egress, func(e networkingv1.NetworkPolicyEgressRule) bool {
		return slices.ContainsFunc(e.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port != nil && p.Port.IntValue() == 5432 })
	}) {
		t.Error("no egress to PostgreSQL's port 5432")
	}
	if !strings.Contains(r.notes, "autorefresh-postgres") {
		t.Errorf("NOTES.txt does not name the Secret:\n%s", r.notes)
	}
}

// TestPostgresHPA: with autoscaling the HPA owns the replica count.
func TestPostgresHPA(t *testing.T) {
	r := render(t, pgValues+"autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 12, targetCPUUtilizationPercentage: 60}\n")
	dep := get[*appsv1.Deployment](t, r, "Deployment", fullname)
	if dep.Spec.Replicas != nil {
		t.Errorf("replicas %d set beside an HPA: each upgrade would reset the HPA's count", *dep.Spec.Replicas)
	}
	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler", fullname)
	ref := hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != dep.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA scales %+v", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 12 {
		t.Errorf("HPA %v..%d, want 3..12", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 {
		t.Fatalf("HPA metrics %+v", hpa.Spec.Metrics)
	}
	m := hpa.Spec.Metrics[0]
	if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Name != corev1.ResourceCPU ||
		m.Resource.Target.Type != autoscalingv2.UtilizationMetricType || m.Resource.Target.AverageUtilization == nil || *m.Resource.Target.AverageUtilization != 60 {
		t.Errorf("HPA metric %+v, want CPU utilization 60", m)
	}
	if !r.has("PodDisruptionBudget", fullname) {
		t.Error("no PDB")
	}
}

// selects applies a whole label selector, expressions included.
func selects(t *testing.T, sel metav1.LabelSelector, labels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(k8slabels.Set(labels))
}

// matches says whether a selector's matchLabels are all among labels.
func matches(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// tokensMount returns the Secret volume holding the tokens file named by
// --auth-tokens-file.
func tokensMount(t *testing.T, spec corev1.PodSpec) *corev1.SecretVolumeSource {
	t.Helper()
	c := server(t, spec)
	file, ok := flag(c, "auth-tokens-file")
	if !ok {
		t.Fatal("no --auth-tokens-file")
	}
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(file, m.MountPath+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				if len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != strings.TrimPrefix(file, m.MountPath+"/") {
					t.Fatalf("Secret volume items %+v do not make %s", v.Secret.Items, file)
				}
				if !m.ReadOnly {
					t.Error("the tokens volume is writable")
				}
				return v.Secret
			}
		}
	}
	t.Fatalf("--auth-tokens-file %s is on no Secret volume", file)
	return nil
}

func TestTokensFromExistingSecret(t *testing.T) {
	r := render(t, "auth: {existingSecret: my-tokens, secretKey: tokens.txt}\n")
	sts := get[*appsv1.StatefulSet](t, r, "StatefulSet", fullname)
	vol := tokensMount(t, sts.Spec.Template.Spec)
	if vol.SecretName != "my-tokens" || vol.Items[0].Key != "tokens.txt" {
		t.Errorf("tokens from %s/%s, want my-tokens/tokens.txt", vol.SecretName, vol.Items[0].Key)
	}
	if got := r.kinds("Secret"); len(got) > 0 {
		t.Errorf("an existing Secret, and the chart renders %v", got)
	}
	if strings.Contains(r.notes, "the API is open") {
		t.Error("NOTES.txt says the API is open with tokens")
	}
}

func TestTokensFromValues(t *testing.T) {
	hash := "sha256:" + strings.Repeat("ab", 32)
	r := render(t, "auth:\n  tokens:\n    - {role: write, token: 0123456789abcdef0123, name: ci}\n    - {role: read, token: "+hash+"}\n")
	sts := get[*appsv1.StatefulSet](t, r, "StatefulSet", fullname)
	vol := tokensMount(t, sts.Spec.Template.Spec)
	sec := get[*corev1.Secret](t, r, "Secret", vol.SecretName)
	file, ok := sec.StringData[vol.Items[0].Key]
	if !ok {
		t.Fatalf("Secret %s has no key %s", sec.Name, vol.Items[0].Key)
	}
	var lines []string
	for _, l := range strings.Split(file, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if want := []string{"write 0123456789abcdef0123 ci", "read " + hash}; !slices.Equal(lines, want) {
		t.Errorf("tokens file lines %q, want %q", lines, want)
	}
	if sts.Spec.Template.Annotations["checksum/tokens"] == "" {
		t.Error("no checksum/tokens annotation: a changed file would not restart the server, which reads it at start")
	}
}

func TestServiceMonitor(t *testing.T) {
	r := render(t, "serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}}\n")
	sm := get[*monitoringv1.ServiceMonitor](t, r, "ServiceMonitor", fullname)
	svc := get[*corev1.Service](t, r, "Service", fullname)
	if sm.Labels["release"] != "prom" {
		t.Errorf("labels %v, want release=prom", sm.Labels)
	}
	if !matches(&sm.Spec.Selector, svc.Labels) {
		t.Error("the ServiceMonitor does not select the Service")
	}
	// Not the headless Service too: Prometheus would scrape the pod twice.
	if hl := get[*corev1.Service](t, r, "Service", fullname+"-headless"); selects(t, sm.Spec.Selector, hl.Labels) {
		t.Error("the ServiceMonitor selects the headless Service too")
	}
	if !selects(t, sm.Spec.Selector, svc.Labels) {
		t.Error("the ServiceMonitor does not select the Service (with its expressions)")
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "http" || ep.Path != "/metrics" || string(ep.Interval) != "15s" {
		t.Errorf("endpoint %+v, want http /metrics every 15s", ep)
	}
	// job="autorefresh", which deploy/monitoring/alerts.yaml selects.
	if sm.Spec.JobLabel != "app.kubernetes.io/name" || svc.Labels[sm.Spec.JobLabel] != "autorefresh" {
		t.Errorf("jobLabel %q: the job would not be autorefresh", sm.Spec.JobLabel)
	}
}

func TestPrometheusRule(t *testing.T) {
	r := render(t, "prometheusRule: {enabled: true}\n")
	pr := get[*monitoringv1.PrometheusRule](t, r, "PrometheusRule", fullname)
	var kit struct {
		Groups []struct {
			Name  string
			Rules []struct{ Alert, Expr string }
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "monitoring", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kit); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, g := range kit.Groups {
		for _, rule := range g.Rules {
			want = append(want, g.Name+"/"+rule.Alert+"/"+rule.Expr)
		}
	}
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			got = append(got, g.Name+"/"+rule.Alert+"/"+rule.Expr.String())
		}
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("PrometheusRule rules\n%q\nwant those of deploy/monitoring/alerts.yaml\n%q", got, want)
	}
}

// TestAlertsCopy: the chart packs a copy of the monitoring kit's alerts
// (.Files cannot reach outside the chart); it must not drift.
func TestAlertsCopy(t *testing.T) {
	kit, err := os.ReadFile(filepath.Join("..", "monitoring", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kit, cp) {
		t.Error("deploy/helm/autorefresh/files/alerts.yaml differs from deploy/monitoring/alerts.yaml: cp deploy/monitoring/alerts.yaml deploy/helm/autorefresh/files/alerts.yaml")
	}
}

func TestNetworkPolicy(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		r := render(t, "networkPolicy: {enabled: false}\n")
		if got := r.kinds("NetworkPolicy"); len(got) > 0 {
			t.Errorf("networkPolicy.enabled false renders %v", got)
		}
	})
	t.Run("webhook CIDRs", func(t *testing.T) {
		r := render(t, "allowWebhookCidrs: [10.20.0.0/16, 192.168.5.0/24]\nnetworkPolicy: {ingress: {from: [{podSelector: {matchLabels: {role: client}}}]}, egress: {webhooks: {public: false, ports: [443]}}}\n")
		sts := get[*appsv1.StatefulSet](t, r, "StatefulSet", fullname)
		if v, _ := flag(server(t, sts.Spec.Template.Spec), "allow-webhook-cidrs"); v != "10.20.0.0/16,192.168.5.0/24" {
			t.Errorf("--allow-webhook-cidrs %q", v)
		}
		np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
		if !matches(&np.Spec.PodSelector, sts.Spec.Template.Labels) {
			t.Error("the NetworkPolicy does not select the pods")
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "http" {
			t.Errorf("ingress %+v, want from the given peer to http", np.Spec.Ingress)
		}
		var cidrs []string
		dns := false
		for _, e := range np.Spec.Egress {
			for _, p := range e.Ports {
				if p.Port != nil && p.Port.IntValue() == 53 {
					dns = true
				}
			}
			for _, to := range e.To {
				if to.IPBlock != nil {
					cidrs = append(cidrs, to.IPBlock.CIDR)
					if len(e.Ports) != 1 || e.Ports[0].Port.IntValue() != 443 {
						t.Errorf("webhook egress ports %+v, want 443", e.Ports)
					}
				}
			}
		}
		if !dns {
			t.Error("no egress to DNS")
		}
		if want := []string{"10.20.0.0/16", "192.168.5.0/24"}; !slices.Equal(cidrs, want) {
			t.Errorf("egress networks %v, want %v (public off)", cidrs, want)
		}
	})
	t.Run("egress open", func(t *testing.T) {
		r := render(t, "networkPolicy: {egress: {enabled: false}}\n")
		np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
		if slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(np.Spec.Egress) > 0 {
			t.Errorf("egress restricted: %+v", np.Spec)
		}
	})
}

// TestSchemaRejects: values.schema.json refuses typos and bad values before
// anything renders, as helm install and helm lint do.
func TestSchemaRejects(t *testing.T) {
	for name, y := range map[string]string{
		"typo at the top":         "replicas: 3\n",
		"typo inside":             "image: {tags: v1}\n",
		"typo deep inside":        "networkPolicy: {egress: {webhook: {public: false}}}\n",
		"bad mode":                "mode: sqlite\n",
		"latest":                  "image: {tag: latest}\n",
		"postgres without secret": "mode: postgres\n",
		"HPA in embedded mode":    "autoscaling: {enabled: true}\n",
		"bad token role":          "auth: {tokens: [{role: admin, token: 0123456789abcdef0123}]}\n",
		"short token":             "auth: {tokens: [{role: read, token: short}]}\n",
		"bad CIDR":                "allowWebhookCidrs: [10.0.0.1]\n",
		"bad log level":           "logLevel: verbose\n",
		"string replicas":         "replicaCount: \"3\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderErr(t, values(t, y))
			if err == nil {
				t.Fatalf("values %q rendered", y)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Errorf("values %q: refused, but not by the schema: %v", y, err)
			}
		})
	}
}

// TestTemplateChecks: what the schema cannot say, the templates refuse.
func TestTemplateChecks(t *testing.T) {
	for name, y := range map[string]string{
		"grace shorter than the drain": "terminationGracePeriodSeconds: 10\n",
		"HPA without a CPU request":    pgValues + "autoscaling: {enabled: true}\nresources: {requests: {cpu: null}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := renderErr(t, values(t, y)); err == nil {
				t.Fatalf("values %q rendered", y)
			} else {
				t.Log(err)
			}
		})
	}
}

// TestImage: a tag or a digest replaces the appVersion.
func TestImage(t *testing.T) {
	for y, want := range map[string]string{
		"image: {repository: reg.example/autorefresh, tag: 1.2.3}\n":                            "reg.example/autorefresh:1.2.3",
		"image: {digest: sha256:" + strings.Repeat("0", 64) + "}\n":                             "autorefresh@sha256:" + strings.Repeat("0", 64),
		"image: {tag: 1.2.3, digest: sha256:" + strings.Repeat("1", 64) + "}\nmode: embedded\n": "autorefresh@sha256:" + strings.Repeat("1", 64),
	} {
		r := render(t, y)
		sts := get[*appsv1.StatefulSet](t, r, "StatefulSet", fullname)
		if got := server(t, sts.Spec.Template.Spec).Image; got != want {
			t.Errorf("values %q: image %q, want %q", y, got, want)
		}
	}
}
