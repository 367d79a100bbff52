package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// emit writes v as JSON (-o json) or calls text to write a table.
func (c *cli) emit(v any, text func(w io.Writer)) error {
	if c.g.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

// row writes tab-separated cells and a newline.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func cacheTable(w io.Writer, caches []client.Cache) {
	row(w, "NAME", "WEBHOOK", "RESYNC", "ITEMS", "SYNCS", "ERRORS", "PAUSED", "LAST ERROR")
	for _, ca := range caches {
		row(w, ca.Name, ca.Webhook.URL, ca.ResyncPeriod.String(), itoa(ca.Stats.Size), itoa(ca.Stats.Syncs),
			itoa(ca.Stats.SyncErrors), strconv.FormatBool(ca.Paused), orDash(ca.Stats.LastError))
	}
}

// cacheDetail writes one cache as aligned "key value" lines.
func cacheDetail(w io.Writer, ca client.Cache) {
	kv := [][2]string{
		{"name", ca.Name},
		{"webhook", ca.Webhook.URL},
		{"secret set", strconv.FormatBool(ca.Webhook.SecretSet)},
		{"webhook timeout", ca.Webhook.Timeout.String()},
		{"resync period", ca.ResyncPeriod.String()},
		{"parallelism", strconv.Itoa(ca.Parallelism)},
		{"size", strconv.Itoa(ca.Size)},
		{"batch size", strconv.Itoa(ca.BatchSize)},
		{"sync on create", strconv.FormatBool(ca.SyncOnCreate)},
		{"rate limit", fmt.Sprintf("%g qps, burst %d, delay %s..%s", ca.RateLimit.QPS, ca.RateLimit.Burst, ca.RateLimit.BaseDelay, ca.RateLimit.MaxDelay)},
		{"paused", strconv.FormatBool(ca.Paused)},
	}
	if ca.Retry != nil {
		kv = append(kv, [2]string{"retry", fmt.Sprintf("max attempts %d, max backoff %s", ca.Retry.MaxAttempts, ca.Retry.MaxBackoff)})
	}
	if ca.ItemTTL != 0 {
		kv = append(kv, [2]string{"item ttl", ca.ItemTTL.String()})
	}
	st := ca.Stats
	kv = append(kv,
		[2]string{"items", itoa(st.Size)},
		[2]string{"syncs", fmt.Sprintf("%d (%d failed)", st.Syncs, st.SyncErrors)},
		[2]string{"queued", fmt.Sprintf("%d (%d in flight)", st.Enqueued, st.InFlight)},
		[2]string{"hits/misses", fmt.Sprintf("%d/%d", st.Hits, st.Misses)},
		[2]string{"evictions", itoa(st.Evictions)},
		[2]string{"deletions", itoa(st.Deletions)},
		[2]string{"last sync", timeOrDash(st.LastSyncAt)},
		[2]string{"last error", orDash(st.LastError)},
	)
	for _, p := range kv {
		row(w, p[0]+":", p[1])
	}
}

func itemTable(w io.Writer, items []client.Item) {
	row(w, "ID", "VERSION", "STATE", "TERMINAL", "UPDATED", "SYNCED", "DATA")
	for _, it := range items {
		row(w, it.ID, itoa(it.Version), state(it), strconv.FormatBool(it.Terminal),
			it.UpdatedAt.UTC().Format(time.RFC3339), timeOrDash(it.SyncedAt), short(string(it.Data), 60))
	}
}

// state is the item's state, from its flags on a server without states;
// "deleting" while a delete is pending.
func state(it client.Item) string {
	s := string(it.State)
	if s == "" {
		s = map[bool]string{true: "terminal", false: "active"}[it.Terminal]
	}
	if it.PendingDelete {
		s += ",deleting"
	}
	return s
}

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// short cuts s to n runes, on one line.
func short(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
