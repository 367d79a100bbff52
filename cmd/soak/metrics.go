package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// series is one line of the Prometheus text format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics is one scrape of /metrics.
type metrics struct {
	at     time.Time
	series []series
}

// sum adds the values of the series called name whose labels include every
// pair of kv (name, value, name, value, ...).
func (m metrics) sum(name string, kv ...string) float64 {
	var total float64
outer:
	for _, s := range m.series {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue outer
			}
		}
		total += s.value
	}
	return total
}

// labelValues lists the values label takes in the series called name whose
// labels include kv, with the sum of each.
func (m metrics) labelValues(name, label string, kv ...string) map[string]float64 {
	out := map[string]float64{}
outer:
	for _, s := range m.series {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue outer
			}
		}
		out[s.labels[label]] += s.value
	}
	return out
}

// The figures the checks use.
func (m metrics) goroutines() float64 { return m.sum("go_goroutines") }
func (m metrics) heapInuse() float64  { return m.sum("go_memstats_heap_inuse_bytes") }
func (m metrics) heapAlloc() float64  { return m.sum("go_memstats_heap_alloc_bytes") }
func (m metrics) rss() float64        { return m.sum("process_resident_memory_bytes") }
func (m metrics) gcCycles() float64   { return m.sum("go_gc_duration_seconds_count") }
func (m metrics) cpuSeconds() float64 { return m.sum("process_cpu_seconds_total") }

// scrape reads /metrics. It uses its own client without keep-alive, so that
// every scrape looks the same to the server (one connection, closed after)
// and none is left idle to count as a goroutine.
func scrape(ctx context.Context, base string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return metrics{}, err
	}
	res, err := oneShotClient.Do(req)
	if err != nil {
		return metrics{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return metrics{}, fmt.Errorf("scrape /metrics: status %d", res.StatusCode)
	}
	ss, err := parseMetrics(res.Body)
	if err != nil {
		return metrics{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	return metrics{at: time.Now(), series: ss}, nil
}

// oneShotClient opens a fresh connection for every request and never uses a
// proxy: everything stays on 127.0.0.1.
var oneShotClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true},
	Timeout:   30 * time.Second,
}

// parseMetrics reads the Prometheus text exposition format (0.0.4): comment
// lines are skipped, every other line is name{labels} value [timestamp].
func parseMetrics(r io.Reader) ([]series, error) {
	var out []series
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLine(line string) (series, error) {
	s := series{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, fmt.Errorf("unterminated labels in %q", line)
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label in %q", line)
			}
			key := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value in %q", line)
			}
			s.labels[key] = val.String()
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q", line)
	}
	s.value = v
	return s, nil
}
