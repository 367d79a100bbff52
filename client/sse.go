package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// DefaultMaxLineBytes bounds one line of an event stream: an event's data
// is one item of up to 1 MiB of data, written on one line, plus its
// bookkeeping.
const DefaultMaxLineBytes = 4 << 20

// errLineTooLong is a stream line over the bound; the stream is given up.
var errLineTooLong = errors.New("autorefresh: an event stream line is longer than the bound")

// sseReader reads Server-Sent Events (the WHATWG event stream format) with
// a bound on each line, so that a broken or hostile server cannot make the
// client hold an unbounded line in memory.
type sseReader struct {
	r   *bufio.Reader
	max int
	// lastID is the id of the last event read (kept across events without
	// one, as the format says); retry is the last "retry:" field, or 0.
	lastID string
	retry  time.Duration
}

func newSSEReader(r io.Reader, maxLine int) *sseReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	return &sseReader{r: bufio.NewReaderSize(r, 64<<10), max: maxLine}
}

// sseEvent is one dispatched event.
type sseEvent struct {
	kind string
	id   string // the stream's last event id once this event is read
	data []byte
}

// next reads up to the next dispatched event. io.EOF means the stream
// ended cleanly between events.
func (s *sseReader) next() (sseEvent, error) {
	var (
		kind string
		data []byte
		has  bool
	)
	for {
		line, err := s.line()
		if err != nil {
			if err == io.EOF && (has || kind != "") {
				// The stream ended mid-event: the event is dropped.
				return sseEvent{}, io.ErrUnexpectedEOF
			}
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !has {
				kind = ""
				continue
			}
			if kind == "" {
				kind = "message"
			}
			return sseEvent{kind: kind, id: s.lastID, data: data}, nil
		}
		if line[0] == ':' {
			continue // a comment: a keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			kind = string(value)
		case "data":
			if has {
				data = append(data, '\n')
			}
			data = append(data, value...)
			has = true
			if len(data) > s.max {
				return sseEvent{}, errLineTooLong
			}
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// line returns the next line without its end ("\n" or "\r\n"), copied, or
// errLineTooLong once it passes the bound.
func (s *sseReader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(buf)+len(chunk) > s.max+2 {
			return nil, fmt.Errorf("%w (%d bytes)", errLineTooLong, s.max)
		}
		buf = append(buf, chunk...)
		switch err {
		case nil:
			buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
			return buf, nil
		case bufio.ErrBufferFull:
			continue
		default:
			if err == io.EOF && len(buf) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}
