package helm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

// TestValuesDocumented: every value of values.yaml has a comment, on its own
// key or on the block it is in, and the schema knows every key (it refuses
// unknown ones, so an undeclared default would fail every install).
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(sb, &schema); err != nil {
		t.Fatal(err)
	}
	leaves := 0
	var walk func(n *yamlv3.Node, path []string, documented bool, sch map[string]any)
	walk = func(n *yamlv3.Node, path []string, documented bool, sch map[string]any) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(append([]string(nil), path...), k.Value)
			doc := documented || strings.TrimSpace(k.HeadComment) != ""
			var sub map[string]any
			if sch != nil {
				props, _ := sch["properties"].(map[string]any)
				sub, _ = props[k.Value].(map[string]any)
				if sub == nil {
					t.Errorf("values.yaml has %s, values.schema.json does not declare it", strings.Join(p, "."))
				}
			}
			// Free-form Kubernetes objects (resources, securityContext, ...)
			// are documented as a whole and not declared field by field.
			if v.Kind == yamlv3.MappingNode && len(v.Content) > 0 && sub != nil && sub["properties"] != nil {
				walk(v, p, doc, sub)
				continue
			}
			leaves++
			if !doc {
				t.Errorf("values.yaml: %s has no comment", strings.Join(p, "."))
			}
		}
	}
	walk(doc.Content[0], nil, false, schema)
	if leaves < 50 {
		t.Errorf("only %d values found", leaves)
	}
}
