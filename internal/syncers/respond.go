package syncers

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// ReasonItemError is the SyncErrorReason of an ItemError: the engine counts
// such items under autorefresh_sync_errors_total{reason="item_error"}. It is
// not one of Reasons, since the batch itself succeeded.
const ReasonItemError = "item_error"

// NoErrorMessage is the last error of an item whose upstream answered
// "error" without a usable message: an empty last error would read as no
// error at all.
const NoErrorMessage = "upstream reported an error without a message"

// ItemError is the Err of a response for an item that the upstream answered
// with an "error" entry: it could not get that item's state, which counts
// as a failed attempt for that item alone.
type ItemError struct {
	// ID is the item's.
	ID string
	// Message is the upstream's message as stored in the item's LastError:
	// without control characters, valid UTF-8, at most
	// record.MaxErrorBytes.
	Message string
}

// Error implements error. Unlike an *Error's, its text holds the
// upstream's own words, but cleaned (cleanMessage) and bounded, next to an
// id of the API's restricted alphabet: fit to show as a last error and to
// log on one line.
func (e *ItemError) Error() string {
	return "upstream reported an error for item " + e.ID + ": " + e.Message
}

// SyncErrorReason implements cache.SyncErrorReasoner.
func (e *ItemError) SyncErrorReason() string { return ReasonItemError }

// responses turns a parsed reply (the zero parsedReply for a 204) into the
// cache's answer, one rule per batch item, in batch order:
//
//   - "update": old.Next(data, terminal, now), where missing data or
//     terminal keep the old value. An update that gives neither has nothing
//     to apply and is handled as "unchanged", so the version does not move.
//   - "unchanged", or left out of the reply: if the item had failed
//     attempts, a success clears them (old.Recovered: an Update); otherwise
//     Unchanged. An item left out with nothing to say (no failures to clear,
//     no nextSyncAfter) gets no response, which the cache also treats as
//     unchanged.
//   - "error": old.Fail with the entry's message, whose wait is the
//     response's NextSyncAfter (0 once the item is given up: it is then
//     terminal, StateFailed); Err is an *ItemError.
//
// NextSyncAfter of an update or unchanged item is the entry's own value,
// else the reply's top-level one, else 0 (the cache's resync period); an
// item that the update made terminal is never synced again and gets 0.
func (w *Webhook) responses(p parsedReply, s sent, now time.Time) []cache.ItemSyncResponseOf[*record.Record] {
	byID := make(map[string]*entry, len(p.entries))
	for i := range p.entries {
		byID[p.entries[i].id] = &p.entries[i]
	}
	out := make([]cache.ItemSyncResponseOf[*record.Record], 0, len(p.entries))
	for _, id := range s.ids {
		old, e := s.byID[id], byID[id]
		next := p.next
		if e != nil && e.next > 0 {
			next = e.next
		}
		switch {
		case e != nil && e.action == actionError:
			n, wait := old.Fail(e.message, w.schedule, now, w.jitter())
			out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: id, Item: n, Action: cache.Update,
				NextSyncAfter: wait, Err: &ItemError{ID: id, Message: n.LastError}})
		case e != nil && e.action == actionUpdate && (e.data != nil || e.terminal != nil):
			data, terminal := old.Data, old.Terminal
			if e.data != nil {
				data = e.data
			}
			if e.terminal != nil {
				terminal = *e.terminal
			}
			n := old.Next(data, terminal, now)
			if n.Terminal {
				next = 0
			}
			out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: id, Item: n, Action: cache.Update, NextSyncAfter: next})
		default:
			if n, changed := old.Recovered(now); changed {
				out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: id, Item: n, Action: cache.Update, NextSyncAfter: next})
			} else if e != nil || next > 0 {
				out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: id, Item: old, Action: cache.Unchanged, NextSyncAfter: next})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// failed charges a failed batch to each of its items: old.Fail with the
// error's text (built from fixed phrases, never from the cause or the
// upstream's bytes), and the wait it returns as NextSyncAfter. A throttled
// call (no request was made) and a canceled one (the cache is stopping) are
// nobody's attempt and get no responses.
func (w *Webhook) failed(e *Error, s sent, now time.Time) []cache.ItemSyncResponseOf[*record.Record] {
	if e.Reason == ReasonThrottled || e.Reason == ReasonCanceled || len(s.ids) == 0 {
		return nil
	}
	msg := e.Error()
	out := make([]cache.ItemSyncResponseOf[*record.Record], 0, len(s.ids))
	for _, id := range s.ids {
		n, wait := s.byID[id].Fail(msg, w.schedule, now, w.jitter())
		out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: id, Item: n, Action: cache.Update, NextSyncAfter: wait})
	}
	return out
}

// maxRawMessage bounds how much of an error message is looked at: more
// than record.MaxErrorBytes survives only if much of it is control
// characters, and the bound keeps the work per entry small whatever the
// upstream sends.
const maxRawMessage = 4 * record.MaxErrorBytes

// cleanMessage makes an upstream's error message fit to show to clients as
// an item's lastError: invalid UTF-8 becomes U+FFFD, line breaks and tabs
// become spaces, other control characters and the bidirectional overrides
// (which could make the text read as something else) are dropped, and the
// ends are trimmed. A message left empty is NoErrorMessage. Its length is
// bounded by record.Fail.
func cleanMessage(s string) string {
	if len(s) > maxRawMessage {
		i := maxRawMessage
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			return ' '
		case unicode.IsControl(r) || isBidiControl(r):
			return -1
		}
		return r
	}, s)
	if s = strings.TrimSpace(s); s == "" {
		return NoErrorMessage
	}
	return s
}

// isBidiControl reports the Unicode bidirectional formatting characters.
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}
