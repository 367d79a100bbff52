// Package kubernetes checks the plain manifests of this directory without a
// cluster: each file decodes strictly (unknown or repeated fields are
// errors) into the k8s.io/api type of its kind, and the Deployment runs the
// server in PostgreSQL mode with its probes, port and Secret wired as the
// server expects.
package kubernetes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifests decodes every *.yaml file of the directory strictly into the
// type of its kind.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\n---") {
			t.Fatalf("%s: one object per file, please", f)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		default:
			t.Fatalf("%s: unexpected %s %s", f, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s does not decode strictly as %s: %v", f, tm.Kind, err)
		}
		if _, dup := out[tm.Kind]; dup {
			t.Fatalf("two %s manifests", tm.Kind)
		}
		out[tm.Kind] = obj
	}
	return out
}

func TestManifests(t *testing.T) {
	m := manifests(t)
	dep, _ := m["Deployment"].(*appsv1.Deployment)
	svc, _ := m["Service"].(*corev1.Service)
	sec, _ := m["Secret"].(*corev1.Secret)
	if dep == nil || svc == nil || sec == nil {
		t.Fatalf("want a Deployment, a Service and a Secret; have %v", m)
	}

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas: %v, want 2", dep.Spec.Replicas)
	}
	sel := dep.Spec.Selector.MatchLabels
	for k, v := range sel {
		if dep.Spec.Template.Labels[k] != v || svc.Spec.Selector[k] != v {
			t.Errorf("label %s=%s: the pod template and the Service must both carry the Deployment's selector", k, v)
		}
	}
	if len(sel) == 0 || len(svc.Spec.Selector) == 0 {
		t.Error("empty selector")
	}
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	c := cs[0]

	// The server listens on :8080, named http, and serves on for 5 s after
	// SIGTERM with /readyz at 503, within the grace period with the drain.
	if !slices.Equal(c.Args, []string{"--addr", ":8080", "--shutdown-delay", "5s"}) {
		t.Errorf("args %v", c.Args)
	}
	if g := dep.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 5+15 {
		t.Errorf("terminationGracePeriodSeconds %v, want at least the delay plus --shutdown-timeout (20)", g)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("container ports %+v, want http 8080", c.Ports)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service ports %+v, want one to the http port", svc.Spec.Ports)
	}

	// Readiness follows the database (/readyz); liveness only the process.
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
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")

	// The URL comes from the Secret, in the variable the server reads.
	var url *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "AUTOREFRESH_POSTGRES_URL" {
			url = &c.Env[i]
		}
		if !strings.HasPrefix(c.Env[i].Name, "AUTOREFRESH_") {
			t.Errorf("env %s: the server reads AUTOREFRESH_* only", c.Env[i].Name)
		}
	}
	if url == nil {
		t.Fatal("no AUTOREFRESH_POSTGRES_URL")
	}
	if url.Value != "" || url.ValueFrom == nil || url.ValueFrom.SecretKeyRef == nil {
		t.Fatal("AUTOREFRESH_POSTGRES_URL must come from a Secret, not a literal")
	}
	ref := url.ValueFrom.SecretKeyRef
	if ref.Name != sec.Name {
		t.Errorf("env refers to Secret %q, the manifest is %q", ref.Name, sec.Name)
	}
	val, ok := sec.StringData[ref.Key]
	if !ok {
		_, ok = sec.Data[ref.Key]
	}
	if !ok {
		t.Errorf("Secret %s has no key %q", sec.Name, ref.Key)
	}
	if ok && val != "" && !strings.HasPrefix(val, "postgres://") && !strings.HasPrefix(val, "postgresql://") {
		t.Errorf("Secret value is not a PostgreSQL URL: %q", val)
	}

	// Nothing runs as root.
	psc := dep.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("the pod must run as non-root")
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the container must not allow privilege escalation")
	}
}

// TestStrictDecodingRefusesTypos makes sure the check above would catch a
// misspelt field.
func TestStrictDecodingRefusesTypos(t *testing.T) {
	b := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  selectr: {a: b}\n")
	if err := yaml.UnmarshalStrict(b, &corev1.Service{}); err == nil {
		t.Fatal("a misspelt field decoded")
	}
	dup := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nmetadata: {name: y}\n")
	if err := yaml.UnmarshalStrict(dup, &corev1.Service{}); err == nil {
		t.Fatal("a repeated field decoded")
	}
}
