package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// report is everything the soak measured, and the verdicts.
type report struct {
	cfg     config
	started time.Time
	machine machine
	rates   [numKinds]float64

	baseline                []metrics // caches registered, no items, after GC
	gcBaseline, gcAfter     gcRun
	loadStart, loadEnd      metrics
	settledMetrics          metrics
	load                    *loadResult
	flapSteps               int
	phase                   time.Duration
	accounts                []accounting
	settleTook, emptyTook   time.Duration
	deleteAll               map[string]int
	after                   []metrics // items deleted, connections closed, after GC
	stopTook                time.Duration
	stopErr                 error
	logs                    logStats
	ups                     []upstreamStats
	upsOwnProcess           bool // the upstreams ran in a process of their own
	checks                  []check
	getStats, getWait       latStats
	kindStats               [numKinds]latStats
	heapLimit, goroutineMax float64
}

type check struct {
	name   string
	pass   bool
	figure string
}

func (r *report) passed() bool {
	for _, c := range r.checks {
		if !c.pass {
			return false
		}
	}
	return true
}

func (r *report) failed() []string {
	var out []string
	for _, c := range r.checks {
		if !c.pass {
			out = append(out, c.name+": "+c.figure)
		}
	}
	return out
}

// latStats are the percentiles of a set of durations.
type latStats struct {
	n                        int
	rate                     float64 // per second of the schedule
	p50, p90, p99, p999, max time.Duration
}

func latencies(ss []sample, field func(sample) int64, secs float64) latStats {
	v := make([]int64, len(ss))
	for i, s := range ss {
		v[i] = field(s)
	}
	slices.Sort(v)
	st := latStats{n: len(v)}
	if secs > 0 {
		st.rate = float64(len(v)) / secs
	}
	if len(v) == 0 {
		return st
	}
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(v)))) - 1
		return time.Duration(v[min(max(i, 0), len(v)-1)])
	}
	st.p50, st.p90, st.p99, st.p999, st.max = q(0.50), q(0.90), q(0.99), q(0.999), time.Duration(v[len(v)-1])
	return st
}

func latOf(s sample) int64  { return s.lat }
func waitOf(s sample) int64 { return s.wait }

// evaluate computes the figures and the checks.
func (r *report) evaluate() {
	cfg, load := r.cfg, r.load
	secs := load.duration.Seconds()
	for k := range numKinds {
		r.kindStats[k] = latencies(load.samples[k], latOf, secs)
	}
	r.getStats = r.kindStats[kGet]
	r.getWait = latencies(load.samples[kGet], waitOf, secs)

	// Latency at the offered rate.
	g := r.getStats
	rateOK := g.rate >= 0.99*cfg.rate && load.dropped[kGet] == 0 && load.skipped[kGet] == 0
	r.add(fmt.Sprintf("p99 GET latency under %v at %.0f GET/s", ms(cfg.p99Limit), cfg.rate),
		g.p99 < cfg.p99Limit && rateOK,
		fmt.Sprintf("p99 %s at %.0f GET/s answered (p50 %s, p99.9 %s, max %s)%s",
			ms(g.p99), g.rate, ms(g.p50), ms(g.p999), ms(g.max), dropNote(load, kGet)))

	// Accounting.
	var lost, wrong, delMiss int
	for key, n := range load.status {
		switch {
		case key.status == get404:
			lost += n
		case key.status == del404:
			delMiss += n
		case strings.HasPrefix(key.status, "200 ("):
			wrong += n
		}
	}
	consistent := lost == 0 && wrong == 0
	for _, a := range r.accounts {
		consistent = consistent && a.consistent()
	}
	a0 := r.accounts[0]
	r.add("every acknowledged item accounted for", consistent,
		fmt.Sprintf("%s creates and %s deletes acknowledged; after the load %s items listed: %d missing, %d resurrected, %d unknown, %d duplicated; %d GETs of a live item answered 404, %d answered another body",
			num(a0.ackedAll), num(a0.deletedAcked), num(a0.listed), a0.missing, a0.resurrected, a0.unknown, a0.duplicates, lost, wrong))
	final404 := r.deleteAll["404"]
	r.add("DELETE of a live item answers 202", delMiss == 0 && final404 == 0,
		fmt.Sprintf("during the load %d of %s DELETEs of live items answered 404; in the final clean-up %d of %s DELETEs of items just listed answered 404",
			delMiss, num(len(load.samples[kDelete])), final404, num(sumCounts(r.deleteAll))))

	a1, a2 := r.accounts[1], r.accounts[2]
	r.add("deletions carried out, items synced to terminal once upstreams are healthy",
		a1.settled() && a2.settled() && a2.listed == 0,
		fmt.Sprintf("settled in %s (%d pending deletion, %d not terminal left); after deleting all %d items: %d left after %s",
			ms(r.settleTook), a1.pending, a1.nonTerminal, a1.listed, a2.listed, ms(r.emptyTook)))

	// Memory and goroutines.
	b, e, af := last(r.baseline), r.loadEnd, last(r.after)
	r.heapLimit = b.heapInuse()*cfg.heapFactor + float64(cfg.heapSlack)
	r.add("memory flat after the load", af.heapInuse() <= r.heapLimit,
		fmt.Sprintf("heap in use %s at baseline, %s at the end of the load, %s after settling (limit %s = %.1f × baseline + %s)",
			mib(b.heapInuse()), mib(e.heapInuse()), mib(af.heapInuse()), mib(r.heapLimit), cfg.heapFactor, mib(float64(cfg.heapSlack))))
	r.goroutineMax = b.goroutines() + float64(cfg.goroutineSlack)
	r.add("goroutines back to the baseline", math.Abs(af.goroutines()-b.goroutines()) <= float64(cfg.goroutineSlack),
		fmt.Sprintf("%.0f at baseline, %.0f at the end of the load, %.0f after settling (tolerance ± %d)",
			b.goroutines(), e.goroutines(), af.goroutines(), cfg.goroutineSlack))

	// Errors.
	var unexpected []string
	for key, n := range load.status {
		if !expected[key.kind][key.status] && key.status != get404 && key.status != del404 && !strings.HasPrefix(key.status, "200 (") {
			unexpected = append(unexpected, fmt.Sprintf("%s %s ×%d", kindNames[key.kind], key.status, n))
		}
	}
	for st, n := range r.deleteAll {
		if st != "202" && st != "404" {
			unexpected = append(unexpected, fmt.Sprintf("final delete %s ×%d", st, n))
		}
	}
	for k := range numKinds {
		if load.dropped[k] > 0 {
			unexpected = append(unexpected, fmt.Sprintf("%s never sent ×%d", kindNames[k], load.dropped[k]))
		}
	}
	sort.Strings(unexpected)
	fig := "none"
	if len(unexpected) > 0 {
		fig = strings.Join(unexpected, "; ")
	}
	r.add("no unexpected API answers", len(unexpected) == 0, fig)

	// Faults actually injected and seen.
	reasons := r.syncErrors("")
	var calls [numModes]int64
	var violations int64
	every := true
	for _, u := range r.ups {
		for m := range numModes {
			calls[m] += u.Calls[m]
			every = every && u.Calls[m] > 0
		}
		violations += u.violations()
	}
	exercised := every && reasons["timeout"] > 0 && reasons["status_5xx"] > 0 && reasons["bad_reply"] > 0
	r.add("faults exercised, webhook protocol kept", exercised && violations == 0,
		fmt.Sprintf("upstream calls ok %d, slow %d, 500 %d, garbage %d; server sync errors timeout %.0f, status_5xx %.0f, bad_reply %.0f; protocol violations %d",
			calls[modeOK], calls[modeSlow], calls[mode500], calls[modeGarbage], reasons["timeout"], reasons["status_5xx"], reasons["bad_reply"], violations))

	r.add("server log clean, clean stop on SIGTERM", r.stopErr == nil && r.logs.panics == 0 && r.logs.byLevel["(not JSON)"] == 0,
		fmt.Sprintf("stopped in %s (%s); %d log lines, %d panics, %d not JSON", ms(r.stopTook), exitText(r.stopErr), r.logs.lines, r.logs.panics, r.logs.byLevel["(not JSON)"]))
}

func (r *report) add(name string, pass bool, figure string) {
	r.checks = append(r.checks, check{name: name, pass: pass, figure: figure})
}

// syncErrors is the server's sync errors during the load and settling, by
// reason, for one cache or ("") all.
func (r *report) syncErrors(cache string) map[string]float64 {
	kv := []string{}
	if cache != "" {
		kv = []string{"cache", cache}
	}
	now := r.settledMetrics.labelValues("autorefresh_sync_errors_total", "reason", kv...)
	before := r.loadStart.labelValues("autorefresh_sync_errors_total", "reason", kv...)
	for k := range now {
		now[k] -= before[k]
	}
	return now
}

func dropNote(load *loadResult, k kind) string {
	var parts []string
	if load.dropped[k] > 0 {
		parts = append(parts, fmt.Sprintf("%d due but never sent", load.dropped[k]))
	}
	if load.skipped[k] > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped for want of an item", load.skipped[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

// mib formats bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// num formats a count with thousands separators.
func num[T int | int64 | float64](v T) string {
	s := strconv.FormatInt(int64(math.Round(float64(v))), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cfg, load, m := r.cfg, r.load, r.machine
	verdict := "PASS"
	if !r.passed() {
		verdict = "FAIL"
	}
	w("### Run of %s: %s\n\n", r.started.UTC().Format("2006-01-02 15:04 UTC"), verdict)
	w("```sh\n%s\n```\n\n", m.command)
	w("| Machine | |\n| --- | --- |\n")
	w("| CPUs | %d × %s |\n", m.cpus, m.cpuModel)
	w("| Memory | %s |\n", m.memory)
	w("| Kernel | %s |\n", m.kernel)
	w("| Go | %s (soak); server built with %s |\n", m.goVersion, m.serverBuild)
	if r.upsOwnProcess {
		w("| GOMAXPROCS | load generator %d, upstreams %d (a process of their own), server %.0f |\n\n", m.genProcs, m.upsProcs, r.loadStart.sum("go_sched_gomaxprocs_threads"))
	} else {
		w("| GOMAXPROCS | load generator %d (with the upstreams, in the same process), server %.0f |\n\n", m.genProcs, r.loadStart.sum("go_sched_gomaxprocs_threads"))
	}

	w("#### Checks\n\n| Check | Result | Figures |\n| --- | --- | --- |\n")
	for _, c := range r.checks {
		res := "PASS"
		if !c.pass {
			res = "**FAIL**"
		}
		w("| %s | %s | %s |\n", c.name, res, c.figure)
	}

	if _, _, _, rest, steal := r.cpuShares(); rest+steal > busyMachine {
		w("\n**Warning: the machine was busy with other work during the load** (%.2f cores besides the server and the soak, %.2f stolen): "+
			"the latency figures say more about that contention than about the server. Run again on a quiet machine.\n", rest, steal)
	}

	w("\n#### Load\n\n")
	w("%s of fixed-rate, open-loop load over %d caches "+
		"(resyncPeriod %v, webhook timeout %v, batchSize %d), %d items seeded per cache first. "+
		"GETs come from %d client goroutines, creates and deletes from %d others, all on one keep-alive connection pool. "+
		"Latency counts from the moment a request was due on the timeline to the end of its reply, "+
		"so waiting for a free client is included.\n\n",
		cfg.duration, cfg.caches, cfg.resync, cfg.webhookTimeout, batchSize, cfg.seed, cfg.clients, cfg.clients)
	w("| Request | Offered/s | Answered/s | Answered | p50 | p90 | p99 | p99.9 | max | Outcomes |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for k := range numKinds {
		st := r.kindStats[k]
		w("| %s | %.0f | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", kindNames[k], r.rates[k], st.rate, num(st.n),
			ms(st.p50), ms(st.p90), ms(st.p99), ms(st.p999), ms(st.max), outcomes(load, k))
	}
	gw := r.getWait
	w("\nOf the GET latency, waiting for a free client (or for the dispatcher to wake up) took p50 %s, p99 %s, max %s.\n",
		ms(gw.p50), ms(gw.p99), ms(gw.max))
	if h := r.serverHistogram(); h != "" {
		w("The server's own histogram of GET item (handler time, from `autorefresh_http_request_duration_seconds`): %s.\n", h)
	}
	srv, gen, ups, rest, steal := r.cpuShares()
	switch {
	case !r.upsOwnProcess:
		w("CPU during the load, in cores of the %d: the server %.2f, the load generator (with the upstreams, in the same process) %.2f",
			m.cpus, srv, gen)
	case ups >= 0:
		w("CPU during the load, in cores of the %d: the server %.2f, the load generator %.2f, the upstreams (a process of their own) %.2f",
			m.cpus, srv, gen, ups)
	default:
		w("CPU during the load, in cores of the %d: the server %.2f, the load generator %.2f, the upstreams (a process of their own) not measured",
			m.cpus, srv, gen)
	}
	if load.machineOK {
		w(", the rest of the machine (other processes, and kernel work charged to neither) %.2f; stolen by the hypervisor %.2f", rest, steal)
	}
	w(".\n")
	if len(load.errs) > 0 {
		w("Transport errors, for example: `%s`.\n", strings.Join(load.errs, "`, `"))
	}
	if len(load.lost) > 0 {
		sort.Strings(load.lost)
		w("Live items answered 404, for example: %s.\n", strings.Join(load.lost[:min(len(load.lost), 6)], ", "))
	}

	w("\n#### GET latency over time\n\nCPU in cores: the server's, and the rest of the machine's besides the server and the soak (load generator and upstreams).\n\n")
	w("| From | GET/s | p50 | p99 | max | waiting p99 | server CPU | other CPU |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, row := range r.windows() {
		srv, other := r.windowCPU(i)
		w("| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", row.from, row.lat.rate, ms(row.lat.p50), ms(row.lat.p99), ms(row.lat.max), ms(row.wait.p99), srv, other)
	}

	steps := make([]string, len(schedule))
	for i, m := range schedule {
		steps[i] = modeNames[m]
	}
	where := "in the soak's own process, sharing the load generator's scheduler"
	if r.upsOwnProcess {
		where = fmt.Sprintf("in a process of their own, GOMAXPROCS %d, apart from the load generator's scheduler", m.upsProcs)
	}
	w("\n#### Faults\n\nThe upstreams ran %s. "+
		"Each upstream went through %s, %v per step (%d steps), shifted by one step per cache; "+
		"slow answers after %v, past the webhook timeout; garbage is a 200 whose body is cut-off JSON.\n\n",
		where, strings.Join(steps, " → "), r.phase, r.flapSteps, 2*cfg.webhookTimeout)
	w("| Cache | Calls ok | slow | 500 | garbage | Items updated | Server sync errors during load and settling | Protocol violations |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, u := range r.ups {
		w("| %s | %s | %s | %s | %s | %s | %s | %d |\n", u.Cache, num(u.Calls[modeOK]), num(u.Calls[modeSlow]), num(u.Calls[mode500]),
			num(u.Calls[modeGarbage]), num(u.Updated), reasonsText(r.syncErrors(u.Cache)), u.violations())
	}

	w("\n#### Accounting\n\nEvery cache is listed page by page (1,000 a page) and compared with the ledger of acknowledged creates (201) and deletes (202).\n\n")
	w("| When | Listed (pages) | Live acknowledged | Missing | Acknowledged deletes: gone / pending / back | Unacknowledged creates listed | Unknown | Pending deletion | Not terminal |\n")
	w("| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |\n")
	for _, a := range r.accounts {
		w("| %s | %s (%d) | %s | %d | %s / %s / %d | %d of %d | %d | %s | %s |\n", a.when, num(a.listed), a.pages, num(a.live), a.missing,
			num(a.deletedGone), num(a.deletedMarked), a.resurrected, a.unackedListed, a.unacked, a.unknown, num(a.pending), num(a.nonTerminal))
	}
	for _, a := range r.accounts {
		for _, e := range a.examples {
			w("\n- %s: %s", a.when, e)
		}
	}
	w("\nThe final clean-up deleted every listed item: %s.\n", statusText(r.deleteAll))

	w("\n#### Memory and goroutines\n\nFrom the server's `/metrics`. Before the baseline and before the last samples the server was made to collect garbage "+
		"(rejected 64 KiB create requests until two GC cycles ran: %d requests at baseline, %d after); the server's idle webhook connections "+
		"were closed from the upstream side and the soak's own keep-alive connections closed before the last samples.\n\n",
		r.gcBaseline.requests, r.gcAfter.requests)
	w("| Moment | Goroutines | Heap in use | Heap allocated | RSS | GC cycles |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	row := func(name string, m metrics) {
		w("| %s | %.0f | %s | %s | %s | %.0f |\n", name, m.goroutines(), mib(m.heapInuse()), mib(m.heapAlloc()), mib(m.rss()), m.gcCycles())
	}
	row("baseline: caches registered, no items", last(r.baseline))
	row("end of the load", r.loadEnd)
	row("items synced to terminal", r.settledMetrics)
	for i, m := range r.after {
		row(fmt.Sprintf("after deleting everything, sample %d (%s later)", i+1, m.at.Sub(r.after[0].at).Round(time.Second)), m)
	}

	w("\n#### Server\n\nStopped with SIGTERM in %s (%s). Log: %s lines; by level %s.", ms(r.stopTook), exitText(r.stopErr), num(r.logs.lines), countsText(r.logs.byLevel))
	if len(r.logs.byMsg) > 0 {
		w(" Messages above info: %s.", countsText(r.logs.byMsg))
	}
	w("\n")
	for _, l := range r.logs.firstBad {
		w("\n    %s", l)
	}
	return b.String()
}

// busyMachine is how many cores other work may use during the load before
// the report warns that the figures are contaminated.
const busyMachine = 0.35

// cpuShares splits the machine's CPU during the load, in cores: the server,
// the soak's load generator, the upstream process (-1 if in the soak's
// process, or not measured), the rest, and time stolen by the hypervisor.
func (r *report) cpuShares() (srv, gen, ups, rest, steal float64) {
	wall := r.load.wall.Seconds()
	srv = (r.loadEnd.cpuSeconds() - r.loadStart.cpuSeconds()) / wall
	gen = r.load.selfCPU / wall
	ups = -1
	if r.load.upsCPU >= 0 {
		ups = r.load.upsCPU / wall
	}
	if r.load.machineOK {
		rest = max(0, r.load.machineBusy/wall-srv-gen-max(ups, 0))
		steal = r.load.machineSteal / wall
	}
	return srv, gen, ups, rest, steal
}

// serverHistogram summarises the server's request-duration histogram for
// GET item over the load.
func (r *report) serverHistogram() string {
	const route = "/v1/caches/{cache}/items/{id}"
	count := func(m metrics) map[string]float64 {
		return m.labelValues("autorefresh_http_request_duration_seconds_bucket", "le", "route", route, "method", "GET")
	}
	end, start := count(r.loadEnd), count(r.loadStart)
	total := end["+Inf"] - start["+Inf"]
	if total <= 0 {
		return ""
	}
	var les []float64
	for le := range end {
		if v, err := strconv.ParseFloat(le, 64); err == nil && !math.IsInf(v, 1) {
			les = append(les, v)
		}
	}
	sort.Float64s(les)
	var parts []string
	for _, le := range les {
		key := strconv.FormatFloat(le, 'g', -1, 64)
		frac := (end[key] - start[key]) / total
		parts = append(parts, fmt.Sprintf("≤ %s %.2f%%", ms(time.Duration(le*1e9)), 100*frac))
		if frac >= 0.99999 {
			break
		}
	}
	return strings.Join(parts, ", ")
}

// windowCPU is the server's and the rest of the machine's CPU use, in
// cores, during window i ("?" when not measured).
func (r *report) windowCPU(i int) (srv, other string) {
	cs := r.load.cpu
	if i+1 >= len(cs) {
		return "?", "?"
	}
	a, b := cs[i], cs[i+1]
	secs := (b.at - a.at).Seconds()
	if secs <= 0 || a.srv < 0 || b.srv < 0 {
		return "?", "?"
	}
	s := (b.srv - a.srv) / secs
	if !r.load.machineOK {
		return fmt.Sprintf("%.2f", s), "?"
	}
	o := (b.machine-a.machine)/secs - s - (b.self-a.self)/secs
	if a.ups >= 0 && b.ups >= 0 {
		o -= (b.ups - a.ups) / secs
	}
	o = max(0, o)
	return fmt.Sprintf("%.2f", s), fmt.Sprintf("%.2f", o)
}

type windowRow struct {
	from      string
	lat, wait latStats
}

// windows cuts the GET samples into windows by due time.
func (r *report) windows() []windowRow {
	ss := r.load.samples[kGet]
	win := r.cfg.window
	var out []windowRow
	for i := 0; i < len(ss); {
		start := time.Duration(ss[i].at) / win * win
		j := i
		for j < len(ss) && time.Duration(ss[j].at) < start+win {
			j++
		}
		secs := min(win, r.load.duration-start).Seconds()
		out = append(out, windowRow{
			from: start.String(),
			lat:  latencies(ss[i:j], latOf, secs),
			wait: latencies(ss[i:j], waitOf, secs),
		})
		i = j
	}
	return out
}

func outcomes(load *loadResult, k kind) string {
	m := map[string]int{}
	for key, n := range load.status {
		if key.kind == k {
			m[key.status] += n
		}
	}
	return statusText(m)
}

func statusText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%s", k, num(m[k])))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sumCounts(m map[string]int) int {
	t := 0
	for _, n := range m {
		t += n
	}
	return t
}

func countsText(m map[string]int) string { return statusText(m) }

func reasonsText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, num(m[k])))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// machine describes where the soak ran.
type machine struct {
	cpus        int
	cpuModel    string
	memory      string
	kernel      string
	goVersion   string
	serverBuild string
	genProcs    int
	upsProcs    int // GOMAXPROCS of the upstream process
	command     string
}

func readMachine(serverPath string) machine {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), cpuModel: "unknown CPU", memory: "unknown", kernel: runtime.GOOS}
	m.genProcs = runtime.GOMAXPROCS(0)
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.serverBuild = "an unknown toolchain"
	if bi, err := buildinfo.ReadFile(serverPath); err == nil {
		m.serverBuild = bi.GoVersion
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			m.serverBuild += ", commit " + rev
			if modified == "true" {
				m.serverBuild += " plus uncommitted changes"
			}
		} else if tree := gitTree(); tree != "" {
			// Built with -buildvcs=false: say what the working tree was.
			m.serverBuild += "; working tree at " + tree
		}
	}
	return m
}

// gitTree describes the current directory's git checkout: its commit, and
// whether tracked files have uncommitted changes. "" if git cannot tell.
func gitTree() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	out := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		out += " plus uncommitted changes"
	}
	return out
}

// commandLine is how to run this soak again.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./cmd/soak"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$`\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	cmd := strings.Join(parts, " ")
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		cmd = "GOMAXPROCS=" + v + " " + cmd
	}
	return cmd
}

// The report goes into the file between these lines; the rest of the file
// is left as it is.
const (
	markBegin = "<!-- soak report: begin (written by go run ./cmd/soak --report; edits inside are overwritten) -->"
	markEnd   = "<!-- soak report: end -->"
)

// writeReport puts md between the markers of path, adding them at the end
// (or making the file) if they are not there.
func writeReport(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	block := markBegin + "\n\n" + strings.TrimSpace(md) + "\n\n" + markEnd
	var out string
	s := string(old)
	i, j := strings.Index(s, markBegin), strings.Index(s, markEnd)
	switch {
	case i >= 0 && j > i:
		out = s[:i] + block + s[j+len(markEnd):]
	case len(strings.TrimSpace(s)) > 0:
		out = strings.TrimRight(s, "\n") + "\n\n" + block + "\n"
	default:
		out = "# Soak\n\n" + block + "\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
