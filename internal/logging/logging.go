// Package logging builds the service's zap logger: JSON lines, buffered so
// that the access log does not cost a write(2) per request, yet flushed at
// once on warnings and errors.
package logging

import (
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Buffer limits: a batch of lines is written when it reaches bufferSize or
// is flushInterval old, whichever comes first.
const (
	bufferSize    = 256 << 10
	flushInterval = 250 * time.Millisecond
)

// New returns a JSON logger writing to w at level and above, and the
// function that flushes and stops it; call that once, after the last line.
//
// Lines are buffered (up to 256 KiB, flushed at least every 250 ms) so that
// the access log costs a write(2) per batch instead of per request.
// Warnings and errors flush the buffer at once, so that the reason for a
// failure is never left in it if the process dies next.
//
// The logger is safe for concurrent use. Its buffer has a goroutine of its
// own, started on the first line and ended by the stop function.
func New(w io.Writer, level zapcore.Level) (*zap.Logger, func()) {
	log, _, stop := Open(w, level)
	return log, stop
}

// Open is New, and also returns the Lines that write hand-built info lines
// (the access log's) to the same buffered output, as the logger would.
func Open(w io.Writer, level zapcore.Level) (*zap.Logger, *Lines, func()) {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	// Sync on this writer only flushes the buffer: w is hidden behind a
	// plain io.Writer so that a flush never fsyncs a log file (which, on
	// every warning, would stall every request's access-log line).
	out := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(struct{ io.Writer }{w}), Size: bufferSize, FlushInterval: flushInterval}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), out, level)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Level >= zapcore.WarnLevel {
			return out.Sync()
		}
		return nil
	}))
	return log, newLines(enc, level, out, os.Stderr), func() { _ = out.Stop() }
}
