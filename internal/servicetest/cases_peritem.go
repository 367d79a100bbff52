package servicetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// perItemCases pin down how a reply schedules each item (issue 15): the
// upstream's nextSyncAfter and its bounds, per-item errors, failed calls,
// backoff and giving up.
var perItemCases = []testCase{
	{"NextSyncAfterSchedulesEachItem", testNextSyncAfter},
	{"NoOrBadNextSyncAfterIsOnePeriod", testNextSyncDefault},
	{"ItemErrorFailsThatItemAlone", testItemError},
	{"FailedCallCountsForEveryItem", testFailedCall},
	{"BackoffDoublesUpToMaxBackoff", testBackoff},
	{"MaxAttemptsGivesUp", testMaxAttempts},
}

// periodJitter is the spread a mode may put on a period or a nextSyncAfter
// (the PostgreSQL mode jitters by ±10%); backoffJitter is the rule's ±20%.
const (
	periodJitter  = 0.1
	backoffJitter = 0.2
)

// answered reports whether a sync has answered for the item since at
// (SyncedAt moves with every answer, unchanged ones too).
func answered(it autorefresh.Item, since time.Time) bool {
	return it.SyncedAt != nil && !it.SyncedAt.Before(since.Add(-clockSlack))
}

// testNextSyncAfter: an entry's nextSyncAfter, with update or unchanged,
// sets that item's next sync; the reply's top-level one serves the entries
// without their own; both are clamped to [period/10, 100 × period]. The
// items are then sent when their schedule says: a clamped-short item many
// times, the others not again within more than a period.
func testNextSyncAfter(t *testing.T, f Factory) {
	const period = time.Second
	u := newScriptUpstream(t, map[string]string{
		"upd":  `"action": "update", "data": {"v": 2}, "nextSyncAfter": "3s"`,
		"unch": `"action": "unchanged", "nextSyncAfter": "5s"`,
		"top":  `"action": "unchanged"`,
		"fast": `"action": "unchanged", "nextSyncAfter": "1ms"`,
		"slow": `"action": "unchanged", "nextSyncAfter": "1000h"`,
		"fin":  `"action": "update", "data": {"v": 9}, "terminal": true, "nextSyncAfter": "1ms"`,
		// Its own value is malformed, so it has none: the reply's applies.
		"badown": `"action": "unchanged", "nextSyncAfter": "soon"`,
		// "left" is left out of the reply: the reply's value applies.
	})
	u.setTop(`"nextSyncAfter": "7s"`)
	s, ctx := openJobs(t, f, cfg(u.url, period, false))
	ids := []string{"upd", "unch", "top", "fast", "slow", "fin", "badown", "left"}
	for _, id := range ids {
		mustCreate(t, s, "jobs", id, `{"v": 1}`, false)
	}
	start := time.Now()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitItem(t, s, "jobs", "upd", "the update applied", func(it autorefresh.Item) bool { return it.Version >= 2 })
	for _, id := range ids[1:] {
		waitItem(t, s, "jobs", id, "an answer", func(it autorefresh.Item) bool { return answered(it, start) })
	}
	items := map[string]autorefresh.Item{}
	for _, id := range ids {
		items[id] = getItem(t, s, "jobs", id)
	}
	to := time.Now()
	for _, c := range []struct {
		id string
		d  time.Duration
	}{
		{"upd", 3 * time.Second},
		{"unch", 5 * time.Second},
		{"top", 7 * time.Second}, // the reply's own value
		{"badown", 7 * time.Second},
		{"left", 7 * time.Second},
		{"slow", 100 * period}, // clamped down
	} {
		wantDue(t, c.id+"'s next sync", items[c.id], u.sends(c.id)[0], to, c.d, periodJitter)
	}
	if it := items["fast"]; it.NextSyncAt == nil || it.NextSyncAt.After(to.Add(period/10+period/100+clockSlack)) {
		t.Fatalf("fast: nextSyncAfter 1ms is clamped up to %s, but the next sync is %s", period/10, describe(it, nil))
	}
	if it := items["fin"]; !it.Terminal || it.StateOf() != record.StateCompleted || it.NextSyncAt != nil {
		t.Fatalf("fin: an update that makes the item terminal leaves no next sync, whatever its nextSyncAfter: %s", describe(it, nil))
	}
	if !jsonEqual(items["upd"].Data, []byte(`{"v": 2}`)) || items["upd"].Version != 2 {
		t.Fatalf("upd: an update with nextSyncAfter was not applied as an update: %s", describe(items["upd"], nil))
	}

	// The fast item, due every period/10, is the clock: once its sends span
	// more than a period, every other item would have been sent again had
	// it been scheduled one period out.
	first := u.sends("fast")[0]
	waitFor(t, "the fast item's sends to span 1.5 periods", 15*time.Second, func() bool {
		snd := u.sends("fast")
		return snd[len(snd)-1].Sub(first) >= period*3/2
	})
	snd := u.sends("fast")
	span := snd[len(snd)-1].Sub(snd[0])
	// Due period/10 after each answer, so sent well within a period each
	// time. The bound is loose: a mode that polls for due items (the
	// PostgreSQL mode looks every period/4) sends them up to a poll late,
	// and a loaded machine adds to that; one period apart fails it.
	if gaps := len(snd) - 1; time.Duration(gaps)*7*period/10 < span {
		t.Fatalf("fast: %d sends over %s, want them well within a period apart (nextSyncAfter clamped to %s)", len(snd), span, period/10)
	}
	for i := 1; i < len(snd); i++ {
		if gap := snd[i].Sub(snd[i-1]); gap < period/10-clockSlack {
			t.Fatalf("fast: sends %d and %d came %s apart, below the clamp %s", i, i+1, gap, period/10)
		}
	}
	for _, id := range []string{"upd", "unch", "top", "slow", "fin", "badown", "left"} {
		if n := u.count(id); n != 1 {
			t.Fatalf("%s was sent %d times within %s, want once: its nextSyncAfter was not kept", id, n, span)
		}
	}
}

// testNextSyncDefault: without a nextSyncAfter (an update, an unchanged, an
// item left out of a 200, a 204) the next sync is one period away; a
// malformed value (not a string, not a duration, not above zero), an
// entry's or the reply's, is ignored and the rest of the entry applies.
func testNextSyncDefault(t *testing.T, f Factory) {
	const period = 2 * time.Second
	u := newScriptUpstream(t, map[string]string{
		"upd":  `"action": "update", "data": {"v": 2}`,
		"unch": `"action": "unchanged"`,
		"bad":  `"action": "update", "data": {"v": "bad"}, "nextSyncAfter": "soon"`,
		"num":  `"action": "unchanged", "nextSyncAfter": 5`,
		"neg":  `"action": "unchanged", "nextSyncAfter": "-5s"`,
		"zero": `"action": "unchanged", "nextSyncAfter": "0s"`,
		// "left" is left out of the reply.
	})
	// A malformed top-level value is ignored too, not a failed call.
	u.setTop(`"nextSyncAfter": "later"`)
	s, ctx := openJobs(t, f, cfg(u.url, period, false))
	ids := []string{"upd", "unch", "bad", "num", "neg", "zero", "left"}
	for _, id := range ids {
		mustCreate(t, s, "jobs", id, `{"v": 1}`, false)
	}
	check := func(round string, since time.Time) {
		t.Helper()
		for _, id := range ids {
			waitItem(t, s, "jobs", id, round+": an answer", func(it autorefresh.Item) bool { return answered(it, since) })
		}
		waitSettled(t, s, "jobs")
		items := map[string]autorefresh.Item{}
		for _, id := range ids {
			items[id] = getItem(t, s, "jobs", id)
		}
		to := time.Now()
		for _, id := range ids {
			snd := u.sends(id)
			wantDue(t, round+": "+id+"'s next sync", items[id], snd[len(snd)-1], to, period, periodJitter)
			if items[id].Attempts != 0 || items[id].LastError != "" {
				t.Fatalf("%s: %s: a successful answer left a failure: %s", round, id, describe(items[id], nil))
			}
		}
	}
	start := time.Now()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	check("200", start)
	if it := getItem(t, s, "jobs", "bad"); it.Version != 2 || !jsonEqual(it.Data, []byte(`{"v": "bad"}`)) {
		t.Fatalf("bad: a malformed nextSyncAfter dropped the rest of the entry: %s", describe(it, nil))
	}

	u.setMode(reply204)
	start = time.Now()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 204 round sent", 10*time.Second, func() bool {
		for _, id := range ids {
			if u.count(id) < 2 {
				return false
			}
		}
		return true
	})
	check("204", start)
}

// testItemError: an "error" entry is a failed attempt of that item alone:
// its attempts count up, it shows the upstream's message, it backs off,
// and it stays active; its batch mate is updated as usual. A later success
// clears attempts and lastError.
func testItemError(t *testing.T, f Factory) {
	const period = 500 * time.Millisecond
	const msg = "boom: no such job"
	u := newScriptUpstream(t, map[string]string{
		"bad":  `"action": "error", "error": "` + msg + `"`,
		"good": `"action": "update", "data": {"v": 2}`,
	})
	s, ctx := openJobs(t, f, cfg(u.url, period, false))
	mustCreate(t, s, "jobs", "bad", `{"v": 1}`, false)
	mustCreate(t, s, "jobs", "good", `{"v": 1}`, false)
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitItem(t, s, "jobs", "good", "the update", func(it autorefresh.Item) bool { return it.Version >= 2 })
	bad := waitItem(t, s, "jobs", "bad", "a failed attempt", func(it autorefresh.Item) bool { return it.Attempts >= 1 })
	to := time.Now()
	if bad.Attempts != 1 || bad.LastError != msg || bad.Terminal || bad.StateOf() != record.StateActive {
		t.Fatalf("bad after one error entry: %s, want 1 attempt, lastError %q, active", describe(bad, nil), msg)
	}
	if !jsonEqual(bad.Data, []byte(`{"v": 1}`)) {
		t.Fatalf("bad: an error entry changed the data: %s", bad.Data)
	}
	wantDue(t, "bad's retry after one failure", bad, u.sends("bad")[0], to, period, backoffJitter)
	good := getItem(t, s, "jobs", "good")
	if good.Attempts != 0 || good.LastError != "" || !jsonEqual(good.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("good: its batch mate's error touched it: %s", describe(good, nil))
	}

	// The backoff brings it back by itself; a second error counts on.
	waitItem(t, s, "jobs", "bad", "a second failed attempt", func(it autorefresh.Item) bool { return it.Attempts >= 2 })
	u.set("bad", `"action": "unchanged"`)
	waitItem(t, s, "jobs", "bad", "the success to clear attempts and lastError", func(it autorefresh.Item) bool {
		return it.Attempts == 0 && it.LastError == ""
	})
	if it := getItem(t, s, "jobs", "bad"); it.Terminal || it.StateOf() != record.StateActive || it.NextSyncAt == nil {
		t.Fatalf("bad after recovering: %s", describe(it, nil))
	}
}

// testFailedCall: a failed call (a 5xx, a reply that is no reply, a
// timeout) is a failed attempt of every item it carried; any success (an
// update, an item left out of a 200, a 204) clears them. A terminal item,
// never sent, is untouched.
func testFailedCall(t *testing.T, f Factory) {
	const period = 300 * time.Millisecond
	u := newScriptUpstream(t, nil)
	u.setMode(reply500)
	s, ctx := openJobs(t, f, cfg(u.url, period, false)) // webhook timeout: 1s
	ids := []string{"a", "b"}
	for _, id := range ids {
		mustCreate(t, s, "jobs", id, `{}`, false)
	}
	mustCreate(t, s, "jobs", "done", `{}`, true)
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		what string
		do   func()
	}{
		{"a 500", func() {}},
		{"a reply that is no reply", func() { u.setMode(replyGarbage) }},
		{"a timeout", func() { u.setMode(replyEntries); u.park() }},
	} {
		n := int32(i + 1)
		step.do()
		for _, id := range ids {
			it := waitItem(t, s, "jobs", id, fmt.Sprintf("attempt %d (%s) counted", n, step.what), func(it autorefresh.Item) bool {
				return it.Attempts >= n
			})
			if it.Attempts != n || it.LastError == "" || it.Terminal {
				t.Fatalf("%s after %s: %s, want %d attempts and a lastError", id, step.what, describe(it, nil), n)
			}
		}
	}
	// Every kind of success clears the failures: an update (a), an item
	// left out of a 200 (b), then, after one more failed call, a 204.
	u.set("a", `"action": "update", "data": {"ok": true}`)
	u.release()
	cleared := func(what string) {
		t.Helper()
		for _, id := range ids {
			waitItem(t, s, "jobs", id, what+" to clear the failures", func(it autorefresh.Item) bool {
				return it.Attempts == 0 && it.LastError == ""
			})
		}
	}
	cleared("an update and a left-out item")
	if it := getItem(t, s, "jobs", "a"); !jsonEqual(it.Data, []byte(`{"ok": true}`)) {
		t.Fatalf("a: the update that cleared the failures was not applied: %s", describe(it, nil))
	}
	u.setMode(reply500)
	for _, id := range ids {
		waitItem(t, s, "jobs", id, "one more failed call", func(it autorefresh.Item) bool { return it.Attempts >= 1 })
	}
	u.setMode(reply204)
	cleared("a 204")
	if it := getItem(t, s, "jobs", "done"); it.Attempts != 0 || it.LastError != "" || it.StateOf() != record.StateCompleted {
		t.Fatalf("a terminal item was counted a failed call: %s", describe(it, nil))
	}
}

// testBackoff: a failing item is retried after min(maxBackoff, period ×
// 2^(n-1)) ± 20% for its n-th failure in a row: 200, 400, 800, then 800 ms
// (the max) here. The lower bounds are the rule's; the upper ones allow for
// a loaded machine but not for a next doubling.
//
// A second cache, without a retry config, shows the default maxBackoff of
// ten periods: 100, 200, 400, 800, then 1000 ms.
func testBackoff(t *testing.T, f Factory) {
	const period, maxBackoff = 200 * time.Millisecond, 800 * time.Millisecond
	u := newScriptUpstream(t, nil)
	u.setMode(reply500)
	s, _ := openJobs(t, f, retryCfg(u.url, period, true, 0, maxBackoff))
	mustPut(t, s, "dflt", cfg(u.url, period/2, true), true)
	mustCreate(t, s, "jobs", "a", `{}`, false)
	mustCreate(t, s, "dflt", "b", `{}`, false)
	for _, c := range []struct {
		cache, id string
		want      []time.Duration
	}{
		{"jobs", "a", []time.Duration{200, 400, 800, 800, 800}},
		{"dflt", "b", []time.Duration{100, 200, 400, 800, 1000, 1000}},
	} {
		waitFor(t, "the sends of "+c.id, 20*time.Second, func() bool { return u.count(c.id) > len(c.want) })
		snd := u.sends(c.id)
		var got []string
		for i := range c.want {
			got = append(got, snd[i+1].Sub(snd[i]).Round(time.Millisecond).String())
		}
		for i, w := range c.want {
			w *= time.Millisecond
			gap := snd[i+1].Sub(snd[i])
			lo := time.Duration(float64(w)*(1-backoffJitter)) - clockSlack
			hi := time.Duration(float64(w)*(1+backoffJitter)) + 300*time.Millisecond
			if gap < lo || gap > hi {
				t.Fatalf("%s: gap after failure %d: %s, want %s ± 20%% (between %s and %s); all gaps %s",
					c.id, i+1, gap.Round(time.Millisecond), w, lo, hi, strings.Join(got, ", "))
			}
		}
		if it := getItem(t, s, c.cache, c.id); it.Attempts < int32(len(c.want)) || it.Terminal {
			t.Fatalf("%s after %d failures without maxAttempts: %s", c.id, len(c.want), describe(it, nil))
		}
	}
}

// testMaxAttempts: the maxAttempts-th failure in a row makes the item
// terminal in state "failed", with no next sync, and it is never sent
// again, while its batch mate goes on being synced. Failed calls count
// towards it as error entries do.
func testMaxAttempts(t *testing.T, f Factory) {
	const period = 200 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{
		"doomed": `"action": "error", "error": "nope"`,
		"clock":  `"action": "unchanged"`,
	})
	s, ctx := openJobs(t, f, retryCfg(u.url, period, true, 3, 400*time.Millisecond))
	mustCreate(t, s, "jobs", "doomed", `{}`, false)
	mustCreate(t, s, "jobs", "clock", `{}`, false)
	it := waitItem(t, s, "jobs", "doomed", "state failed", func(it autorefresh.Item) bool {
		return it.StateOf() == record.StateFailed
	})
	if !it.Terminal || it.Attempts != 3 || it.LastError != "nope" || it.NextSyncAt != nil {
		t.Fatalf("doomed after maxAttempts 3: %s, want terminal, 3 attempts, lastError \"nope\", no next sync", describe(it, nil))
	}
	if n := u.count("doomed"); n != 3 {
		t.Fatalf("doomed was sent %d times, want 3 (maxAttempts)", n)
	}
	// The clock item shows the cycles going on; Sync asks for one more.
	base := u.count("clock")
	waitFor(t, "five more syncs of the clock item", 15*time.Second, func() bool { return u.count("clock") >= base+5 })
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	base = u.count("clock")
	waitFor(t, "one more sync of the clock item", 15*time.Second, func() bool { return u.count("clock") > base })
	if n := u.count("doomed"); n != 3 {
		t.Fatalf("a failed item was sent again (%d sends in all)", n)
	}
	if c := getItem(t, s, "jobs", "clock"); c.StateOf() != record.StateActive || c.Attempts != 0 {
		t.Fatalf("clock: %s", describe(c, nil))
	}

	// Failed calls give up an item too.
	u2 := newScriptUpstream(t, nil)
	u2.setMode(reply500)
	mustPut(t, s, "calls", retryCfg(u2.url, period, true, 2, 0), true)
	mustCreate(t, s, "calls", "x", `{}`, false)
	it = waitItem(t, s, "calls", "x", "state failed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	if it.Attempts != 2 || !it.Terminal || it.LastError == "" {
		t.Fatalf("x after two failed calls with maxAttempts 2: %s", describe(it, nil))
	}
	if n := u2.count("x"); n != 2 {
		t.Fatalf("x was sent %d times, want 2 (maxAttempts)", n)
	}
}
