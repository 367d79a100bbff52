package autorefresh_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// TestValidIDIsTheSpecPattern holds ValidID, a loop, to the spec's ItemID
// pattern: every byte value in several positions, the length bounds, and
// the two ids the pattern allows but the service refuses.
func TestValidIDIsTheSpecPattern(t *testing.T) {
	doc, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(doc.Components.Schemas["ItemID"].Value.Pattern)
	spec := func(id string) bool { return re.MatchString(id) && id != "." && id != ".." }
	ids := []string{"", ".", "..", "...", "a", strings.Repeat("a", autorefresh.MaxIDLength), strings.Repeat("a", autorefresh.MaxIDLength+1), "é", "a\x00"}
	for c := range 256 {
		b := string([]byte{byte(c)})
		ids = append(ids, b, "x"+b, b+"y", "x"+b+"y")
	}
	for _, id := range ids {
		if got, want := autorefresh.ValidID(id), spec(id); got != want {
			t.Errorf("ValidID(%q) = %v, the spec's pattern says %v", id, got, want)
		}
	}
}

func FuzzValidIDIsTheSpecPattern(f *testing.F) {
	doc, err := api.Load()
	if err != nil {
		f.Fatal(err)
	}
	re := regexp.MustCompile(doc.Components.Schemas["ItemID"].Value.Pattern)
	f.Add("item-1")
	f.Add("a/b")
	f.Fuzz(func(t *testing.T, id string) {
		want := re.MatchString(id) && id != "." && id != ".."
		if got := autorefresh.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, the spec's pattern says %v", id, got, want)
		}
	})
}
