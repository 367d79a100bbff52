package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// report is the table printed at the end of a run.
type report struct {
	cfg        config
	started    time.Time
	elapsed    time.Duration
	loadBefore string // /proc/loadavg
	loadAfter  string
	rows       []result
}

// write prints the run's settings, one markdown table row per mode, and
// notes on what went wrong or needs saying.
func (r *report) write(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\n%s, %d CPUs, %s; load average %s before, %s after; %s in all\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(),
		r.loadBefore, r.loadAfter, r.elapsed.Round(time.Second))
	fmt.Fprintf(w, "window %s after %s of warm-up; single: %d clients; bulk: %d clients × %d items; sync: %d items; RSS: %d items\n",
		c.window, c.warmup, c.clients, c.bulkClients, c.bulkSize, c.syncItems, c.rssItems)
	if len(c.serverFlags) > 0 {
		fmt.Fprintf(w, "server flags: %s\n", strings.Join(c.serverFlags, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| mode | single creates/s | CPU/create | bulk items/s | CPU/item | bulk ÷ single | sync items/s | CPU/item | RSS/item | SIGTERM to exit | start to ready |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var notes []string
	for _, x := range r.rows {
		ratio := "–"
		if x.single.items > 0 {
			ratio = fmt.Sprintf("**%.1f×**", x.bulk.perSecond()/x.single.perSecond())
		}
		rss, stop, ready := "–", "–", "–"
		if x.rssItems > 0 {
			rss = fmt.Sprintf("%.0f B", float64(x.rssAfter-x.rssBefore)/float64(x.rssItems))
			if x.mode != modeMemory {
				stop, ready = ms(x.stopTime), ms(x.readyTime)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.mode,
			num(x.single.perSecond()), us(x.single.cpuPerItem()),
			num(x.bulk.perSecond()), us(x.bulk.cpuPerItem()), ratio,
			num(x.sync.perSecond()), us(x.sync.cpuPerItem()), rss, stop, ready)
		for _, p := range []struct {
			what string
			r    rate
		}{{"single creates", x.single}, {"bulk creates", x.bulk}, {"sync", x.sync}} {
			if p.r.errors > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d failed calls in the window; the first: %v", x.mode, p.what, p.r.errors, p.r.err))
			}
		}
		if x.syncCalls > 0 {
			notes = append(notes, fmt.Sprintf("%s, sync: %d webhook calls in %s, %.1f items per call",
				x.mode, x.syncCalls, x.sync.elapsed.Round(time.Millisecond), float64(x.sync.items)/float64(x.syncCalls)))
		}
		if x.rssItems > 0 {
			notes = append(notes, fmt.Sprintf("%s, RSS: %s before, %s after %d items created in %s (%s items/s)",
				x.mode, mib(x.rssBefore), mib(x.rssAfter), x.rssItems, x.loadTime.Round(time.Millisecond),
				num(float64(x.rssItems)/x.loadTime.Seconds())))
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "-", n)
	}
}

// num formats a rate with thousands separators and no decimals.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func us(v float64) string { return fmt.Sprintf("%.1f µs", v) }

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
