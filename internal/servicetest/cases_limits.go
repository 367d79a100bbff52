package servicetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// limitCases cover the bounds that keep one request from costing the
// server too much.
var limitCases = []testCase{
	{"ListPagesBoundedInBytes", testListBytes},
}

// testListBytes: with items of about 600 KiB, a page asked for 100 items
// ends before autorefresh.MaxPageBytes, no earlier than it must, and paging
// through returns every item exactly once, with and without a filter.
func testListBytes(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "big", cfg(noopUpstream(t), time.Hour, false), true)
	const n, size = 20, 600 << 10
	var all, terminal []string
	for i := range n {
		id := fmt.Sprintf("item-%02d", i)
		// Each item's data differs, so that a mix-up between pages shows.
		data := `"` + strings.Repeat(string(rune('a'+i)), size) + `"`
		mustCreate(t, s, "big", id, data, i%3 == 0)
		all = append(all, id)
		if i%3 == 0 {
			terminal = append(terminal, id)
		}
	}
	collect := func(term *bool) []string {
		t.Helper()
		var out []string
		cursor := ""
		for range 100 {
			items, next, err := s.ListItems(ctx, "big", cursor, 100, autorefresh.Filter{Terminal: term})
			if err != nil {
				t.Fatalf("ListItems(%q): %v", cursor, err)
			}
			if len(items) == 0 && next != "" {
				t.Fatalf("an empty page with a next cursor")
			}
			bytes := 0
			for _, it := range items {
				want := strings.Repeat(string(rune('a'+atoi(t, it.ID[len("item-"):]))), size)
				if string(it.Data) != `"`+want+`"` {
					t.Fatalf("item %s has another item's data", it.ID)
				}
				bytes += autorefresh.ItemBytes(it.ID, len(it.Data))
				out = append(out, it.ID)
			}
			if bytes > autorefresh.MaxPageBytes {
				t.Fatalf("a page of %d items, %d bytes: over %d", len(items), bytes, autorefresh.MaxPageBytes)
			}
			if next == "" {
				return out
			}
			// Cut no earlier than it must: one more item would not fit.
			if one := autorefresh.ItemBytes("item-00", size+2); bytes+one <= autorefresh.MaxPageBytes {
				t.Fatalf("a page of %d items, %d bytes, ended early", len(items), bytes)
			}
			cursor = next
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got := collect(nil); strings.Join(got, ",") != strings.Join(all, ",") {
		t.Fatalf("pages:\n got %v\nwant %v", got, all)
	}
	yes := true
	if got := collect(&yes); strings.Join(got, ",") != strings.Join(terminal, ",") {
		t.Fatalf("terminal pages:\n got %v\nwant %v", got, terminal)
	}
	// A limit below what the bytes allow still wins.
	items, next, err := s.ListItems(ctx, "big", "", 2, autorefresh.Filter{})
	if err != nil || len(items) != 2 || next != autorefresh.Cursor(items[1].ID) {
		t.Fatalf("limit 2: %d items, next %q, %v", len(items), next, err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("id number %q: %v", s, err)
	}
	return n
}
