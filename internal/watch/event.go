package watch

import (
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// Kind names an event as watchers see it; it is the SSE event name.
type Kind string

// The kinds of event a watcher receives.
const (
	// Created: a new item was inserted.
	Created Kind = "created"
	// Updated: a change (a sync, a failed attempt, a PATCH, a retry) left
	// the item active.
	Updated Kind = "updated"
	// Terminal: a change completed the item (a sync's or a PATCH's
	// terminal update). It replaces Updated for that change, so a watcher
	// that only cares about the end of an item can listen for this kind
	// and the two below.
	Terminal Kind = "terminal"
	// Failed: the item was given up after retry.maxAttempts consecutive
	// failed attempts (record.StateFailed). It replaces Updated too.
	Failed Kind = "failed"
	// Expired: the item's deadline passed before it finished
	// (record.StateExpired). It replaces Updated too.
	Expired Kind = "expired"
	// Deleted: a sync cycle removed an item marked by a delete.
	Deleted Kind = "deleted"
	// Evicted: the item was dropped to keep the cache within its size.
	Evicted Kind = "evicted"
	// Lagged: events were dropped for this watcher (it read too slowly, or
	// it asked to resume from before what the replay buffer holds). Its
	// view is incomplete: it should re-read the items it cares about.
	Lagged Kind = "lagged"
)

// Event is one change of one item.
type Event struct {
	// Seq orders the events of a cache: it increases by at least one from
	// each event to the next, across every cache of the hub and across
	// restarts (see Options.FirstSeq). It is 0 for Lagged, which is not a
	// change and cannot be resumed from.
	Seq   uint64
	Kind  Kind
	Cache string
	ID    string
	// Item is the item after the change; nil for Deleted, Evicted and
	// Lagged, whose item is gone (or unknown).
	Item *record.Record
}

// Gone reports whether the event says the item no longer exists.
func (e Event) Gone() bool { return e.Kind == Deleted || e.Kind == Evicted }

// fromCache maps an engine event onto a watch event (without Seq). last is
// the engine's item, also for the kinds whose Event carries none.
func fromCache(cacheName string, ev autorefresh.Event) (out Event, last *record.Record) {
	out = Event{Cache: cacheName, ID: ev.ID}
	last = ev.Item
	switch ev.Type {
	case autorefresh.EventCreated:
		out.Kind = Created
	case autorefresh.EventUpdated:
		out.Kind = updatedKind(ev.Item)
	case autorefresh.EventDeleted:
		out.Kind = Deleted
	case autorefresh.EventEvicted:
		out.Kind = Evicted
	default:
		return Event{}, nil
	}
	if !out.Gone() {
		out.Item = last
	}
	return out, last
}

// updatedKind names an update by the state it left the item in, so that a
// watcher learns how an item ended from the event alone: a failed or an
// expired item is terminal too, but not completed, and telling them apart
// from "terminal" is the point of having states.
func updatedKind(it *record.Record) Kind {
	if it == nil {
		return Updated
	}
	switch it.StateOf() {
	case record.StateFailed:
		return Failed
	case record.StateExpired:
		return Expired
	}
	// By the flag, not by StateCompleted: a terminal record is completed
	// unless it says otherwise, whatever wrote it.
	if it.IsTerminal() {
		return Terminal
	}
	return Updated
}

// weight approximates the memory an event holds in a replay buffer: the
// item's data plus a fixed overhead for the rest.
func (e Event) weight() int {
	const overhead = 256
	if e.Item == nil {
		return overhead + len(e.ID)
	}
	return overhead + len(e.ID) + len(e.Item.Data)
}
