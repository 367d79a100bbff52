package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// TestListPageBoundedInEncodedBytes: the services cut pages by the bytes
// the items are stored in, but '<' is stored as one byte and written as six
// (\u003c), so the HTTP layer must cut again by what it writes. Every page
// stays within autorefresh.MaxPageBytes unless it holds a single item, and
// paging returns every item once.
func TestListPageBoundedInEncodedBytes(t *testing.T) {
	e := newEnv(t)
	if r := e.putCache("big", `{"webhook": {"url": "`+e.upstream.URL+`/sync"}, "resyncPeriod": "1h", "syncOnCreate": false}`); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var want []string
	for i := range 8 {
		size := 200 << 10 // 1.2 MB written
		if i < 2 {
			size = 720 << 10 // 4.3 MB written: alone on a page
		}
		id := fmt.Sprintf("item-%d", i)
		body := `{"id": "` + id + `", "data": "` + strings.Repeat("<", size) + `"}`
		if r := e.do("POST", "/v1/caches/big/items", "application/json", body); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %.200s", id, r.status, r.body)
		}
		want = append(want, id)
	}
	var got []string
	pages := 0
	cursor := ""
	for range 20 {
		path := "/v1/caches/big/items?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do("GET", path, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %.200s", r.status, r.body)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"nextCursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Items) > 1 && len(r.body) > autorefresh.MaxPageBytes {
			t.Fatalf("a page of %d items is %d bytes, over %d", len(page.Items), len(r.body), autorefresh.MaxPageBytes)
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("items over %d pages:\n got %v\nwant %v", pages, got, want)
	}
	// Two items alone, then 6 of 1.2 MB at 3 a page.
	if pages != 4 {
		t.Fatalf("%d pages, want 4", pages)
	}
}
