package logging

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
)

// The access log writes a line per request, and zap's JSON encoder took a
// few microseconds of CPU for each: a clone of the encoder, every key and
// value escaped byte by byte through a function call, a lock. That was the
// largest cost of a GET that the HTTP layer could still cut. Lines writes
// such a line by hand, byte for byte as zap writes it through the logger
// New returns (lines_test.go holds the two side by side), into the same
// buffered output. A value zap would escape is not written by hand: Info
// then reports false and the caller logs the line through zap, so every
// odd case keeps zap's own encoding.

// FieldWriter is what a line's fields are written to: zap's
// zapcore.ObjectEncoder has these methods, and so does Line, so that one
// function lists a line's fields for both.
type FieldWriter interface {
	AddString(key, value string)
	AddInt(key string, value int)
	AddDuration(key string, value time.Duration)
}

// Fields is a line's fields after the message.
type Fields interface {
	WriteFields(FieldWriter)
}

// Lines writes info-level lines built by hand to a logger's output.
type Lines struct {
	// prefix is `{"level":"info","ts":"`; msg is `","msg":"`.
	prefix, msg string
	enabled     bool
	out         io.Writer
	// errOut is where a failed write is reported, as zap reports it.
	errOut io.Writer
	lines  sync.Pool // of *Line
}

// newLines writes lines as the production encoder config enc writes them
// at info level, to out, if level lets info lines through.
func newLines(enc zapcore.EncoderConfig, level zapcore.LevelEnabler, out, errOut io.Writer) *Lines {
	l := &Lines{
		prefix:  `{"` + enc.LevelKey + `":"` + zapcore.InfoLevel.String() + `","` + enc.TimeKey + `":"`,
		msg:     `","` + enc.MessageKey + `":"`,
		enabled: level.Enabled(zapcore.InfoLevel),
		out:     out,
		errOut:  errOut,
	}
	l.lines.New = func() any { return &Line{b: make([]byte, 0, 512)} }
	return l
}

// Info writes msg and f's fields as one info line stamped now, and reports
// whether it did (or had nothing to write, the level being off). False
// means a value needs escaping: log the line through zap instead. now is
// the time zap's clock would give, time.Now(): the caller passes the one
// it has just read (a clock read cost a fifth of a microsecond here).
func (l *Lines) Info(now time.Time, msg string, f Fields) bool {
	if !l.enabled {
		return true
	}
	ln := l.lines.Get().(*Line)
	defer l.lines.Put(ln)
	ln.b, ln.plain = append(ln.b[:0], l.prefix...), plain(msg)
	ln.b = now.AppendFormat(ln.b, time.RFC3339Nano)
	ln.b = append(append(ln.b, l.msg...), msg...)
	ln.b = append(ln.b, '"')
	f.WriteFields(ln)
	if !ln.plain {
		return false
	}
	ln.b = append(ln.b, "}\n"...)
	if _, err := l.out.Write(ln.b); err != nil {
		// As zap's CheckedEntry.Write reports it.
		_, _ = fmt.Fprintf(l.errOut, "%v write error: %v\n", now, err)
	}
	return true
}

// Line is a line being written by Lines.Info.
type Line struct {
	b []byte
	// plain stays true while no value needed escaping.
	plain bool
}

// AddString writes a string field, if neither key nor value needs escaping.
func (ln *Line) AddString(key, value string) {
	if !plain(key) || !plain(value) {
		ln.plain = false
		return
	}
	ln.b = append(ln.key(key), '"')
	ln.b = append(append(ln.b, value...), '"')
}

// AddInt writes an integer field.
func (ln *Line) AddInt(key string, value int) {
	if !plain(key) {
		ln.plain = false
		return
	}
	ln.b = strconv.AppendInt(ln.key(key), int64(value), 10)
}

// AddDuration writes a duration in seconds, as the production config's
// zapcore.SecondsDurationEncoder does (a duration is never NaN or infinite).
func (ln *Line) AddDuration(key string, value time.Duration) {
	if !plain(key) {
		ln.plain = false
		return
	}
	ln.b = strconv.AppendFloat(ln.key(key), float64(value)/float64(time.Second), 'f', -1, 64)
}

// key appends `,"key":`.
func (ln *Line) key(key string) []byte {
	b := append(ln.b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// plain reports whether zap writes s as it is: printable ASCII, no quote
// and no backslash (zap escapes those and control bytes, and checks the
// UTF-8 of the rest).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
