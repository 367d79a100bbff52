package logging

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// fields is a line's fields for both writers.
type fields struct {
	strs  [][2]string
	ints  []int
	durs  []time.Duration
	extra string // a last string field, if set
}

func (f fields) WriteFields(w FieldWriter) {
	for _, kv := range f.strs {
		w.AddString(kv[0], kv[1])
	}
	for i, n := range f.ints {
		w.AddInt("n"+string(rune('a'+i)), n)
	}
	for i, d := range f.durs {
		w.AddDuration("d"+string(rune('a'+i)), d)
	}
	if f.extra != "" {
		w.AddString("extra", f.extra)
	}
}

func (f fields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	f.WriteFields(enc)
	return nil
}

// tsField is the one part of a line that differs between two writes.
var tsField = regexp.MustCompile(`"ts":"[^"]*"`)

// Each line written by Lines is the line zap writes through the logger of
// Open, but for the time; a line with a value zap escapes is refused and
// left to zap.
func TestLinesWriteAsZap(t *testing.T) {
	for _, c := range []struct {
		name   string
		msg    string
		f      fields
		byHand bool
	}{
		{"access", "request", fields{
			strs: [][2]string{{"requestId", "3f9a1c02-000123"}, {"method", "GET"}, {"route", "/v1/caches/{cache}/items/{id}"},
				{"path", "/v1/caches/bench/items/item1"}, {"remote", "127.0.0.1:40000"}},
			ints: []int{200, 351, 0, -7},
			durs: []time.Duration{0, 1, 999, 123456, time.Second, 90 * time.Minute, -time.Millisecond, 1<<63 - 1},
		}, true},
		{"empty", "", fields{strs: [][2]string{{"k", ""}}}, true},
		{"printable", "m", fields{strs: [][2]string{{"k", " !#$%&'()*+,-./:;<=>?@[]^_`{|}~\x7f"}}}, true},
		{"quote", "request", fields{extra: `a"b`}, false},
		{"backslash", "request", fields{extra: `a\b`}, false},
		{"newline", "request", fields{extra: "a\nb"}, false},
		{"control", "request", fields{extra: "a\x01b"}, false},
		{"utf8", "request", fields{extra: "é"}, false},
		{"bad utf8", "request", fields{extra: "\xff"}, false},
		{"odd message", "a\"b", fields{}, false},
		{"odd key", "request", fields{strs: [][2]string{{"k\"", "v"}}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			log, lines, stop := Open(&out, zapcore.InfoLevel)
			log.Info(c.msg, zap.Inline(c.f))
			byHand := lines.Info(time.Now(), c.msg, c.f)
			stop()
			if byHand != c.byHand {
				t.Fatalf("written by hand: %v, want %v", byHand, c.byHand)
			}
			got := strings.SplitAfter(out.String(), "\n")
			want := 2
			if !byHand {
				want = 1
			}
			if len(got) != want+1 || got[want] != "" {
				t.Fatalf("output %q: want %d lines", out.String(), want)
			}
			if !byHand {
				return
			}
			zapLine, handLine := tsField.ReplaceAllString(got[0], `"ts":""`), tsField.ReplaceAllString(got[1], `"ts":""`)
			if zapLine != handLine {
				t.Errorf("zap:     %s\nby hand: %s", zapLine, handLine)
			}
			// The time is written as zap writes it.
			ts := tsField.FindString(got[1])
			if _, err := time.Parse(time.RFC3339Nano, strings.TrimSuffix(strings.TrimPrefix(ts, `"ts":"`), `"`)); err != nil {
				t.Errorf("time %s: %v", ts, err)
			}
		})
	}
}

// Below the logger's level, nothing is written, and the caller is told the
// line is taken care of.
func TestLinesLevel(t *testing.T) {
	var out bytes.Buffer
	_, lines, stop := Open(&out, zapcore.WarnLevel)
	if !lines.Info(time.Now(), "request", fields{}) {
		t.Error("a line below the level was left to zap")
	}
	stop()
	if out.Len() != 0 {
		t.Errorf("wrote %q below the level", out.String())
	}
}

// accessFields are an access-log line's fields, with constant keys as the
// server writes them.
type accessFields struct{}

func (*accessFields) WriteFields(w FieldWriter) {
	w.AddString("requestId", "3f9a1c02-000123")
	w.AddString("method", "GET")
	w.AddString("route", "/v1/caches/{cache}/items/{id}")
	w.AddString("path", "/v1/caches/bench/items/item1")
	w.AddInt("status", 200)
	w.AddInt("bytes", 351)
	w.AddDuration("duration", 123456)
	w.AddString("remote", "127.0.0.1:40000")
}

func (f *accessFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	f.WriteFields(enc)
	return nil
}

// go test -run '^$' -bench AccessLine -benchmem ./internal/logging/
func BenchmarkAccessLine(b *testing.B) {
	f := &accessFields{}
	log, lines, stop := Open(discard{}, zapcore.InfoLevel)
	b.Cleanup(stop)
	b.Run("zap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			log.Info("request", zap.Inline(f))
		}
	})
	b.Run("lines", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lines.Info(time.Now(), "request", f)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
