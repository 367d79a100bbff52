package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
)

// How an item is kept in the bbolt file.
//
// Items used to be stored as JSON. Decoding a million of them took most of
// a restart (encoding/json's reflection and validation, about 4 µs each),
// and the JSON, with its field names and RFC 3339 times, made the file
// twice as large as the data in it. Items are now written in a binary
// form that starts with a format byte; a JSON value starts with '{' (or
// white space), never with that byte, so a file written before keeps
// opening and its items are read as JSON until they are next written.
//
// Format 1, after the format byte:
//
//	flags             1 byte: the flag bits below
//	state             1 byte
//	version           varint
//	attempts          varint
//	createdAt         time (if flagCreatedAt)
//	updatedAt         time (if flagUpdatedAt)
//	expiresAt         time (if flagExpiresAt)
//	syncedAt          time (if flagSyncedAt)
//	lastError         uvarint length, then its bytes
//	data              the rest of the value: the item's JSON as given
//
// A time is its Unix seconds (varint) and nanoseconds (uvarint), read back
// in UTC, which is how the service makes every time it stores. The id is
// not repeated: it is the key.
const formatBinary1 byte = 0x01

// The flag bits of format 1.
const (
	flagTerminal byte = 1 << iota
	flagPendingDelete
	flagCreatedAt
	flagUpdatedAt
	flagExpiresAt
	flagSyncedAt
)

var errBadItem = errors.New("malformed item")

// appendItem appends an item in format 1 to dst: r, with syncedAt (zero
// if never synced) and its pending deletion.
func appendItem(dst []byte, r *record.Record, syncedAt time.Time, pendingDelete bool) []byte {
	var flags byte
	for _, f := range [...]struct {
		on  bool
		bit byte
	}{
		{r.Terminal, flagTerminal}, {pendingDelete, flagPendingDelete},
		{!r.CreatedAt.IsZero(), flagCreatedAt}, {!r.UpdatedAt.IsZero(), flagUpdatedAt},
		{!r.ExpiresAt.IsZero(), flagExpiresAt}, {!syncedAt.IsZero(), flagSyncedAt},
	} {
		if f.on {
			flags |= f.bit
		}
	}
	dst = append(dst, formatBinary1, flags, byte(r.State))
	dst = binary.AppendVarint(dst, r.Version)
	dst = binary.AppendVarint(dst, int64(r.Attempts))
	for _, t := range [...]struct {
		bit byte
		at  time.Time
	}{{flagCreatedAt, r.CreatedAt}, {flagUpdatedAt, r.UpdatedAt}, {flagExpiresAt, r.ExpiresAt}, {flagSyncedAt, syncedAt}} {
		if flags&t.bit != 0 {
			dst = appendTime(dst, t.at)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.LastError)))
	dst = append(dst, r.LastError...)
	return append(dst, r.Data...)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// decodeItem reads a stored item, in either form, into it. id is its key;
// the item keeps its own copy of id and of every byte it needs from v,
// which belongs to bbolt's memory map and is gone once the transaction
// ends.
func decodeItem(id string, v []byte, it *Item) error {
	if len(v) == 0 || v[0] != formatBinary1 {
		*it = Item{}
		if err := json.Unmarshal(v, it); err != nil {
			return err
		}
		if it.ID != id {
			return errors.New("stored id differs from its key")
		}
		return nil
	}
	d := decoder{b: v[1:]}
	flags, state := d.byte(), d.byte()
	*it = Item{Record: record.Record{
		ID: id, Terminal: flags&flagTerminal != 0, State: record.State(state),
		Version: d.varint(), Attempts: int32(d.varint()),
	}, PendingDelete: flags&flagPendingDelete != 0}
	r := &it.Record
	if flags&flagCreatedAt != 0 {
		r.CreatedAt = d.time()
	}
	if flags&flagUpdatedAt != 0 {
		r.UpdatedAt = d.time()
	}
	if flags&flagExpiresAt != 0 {
		r.ExpiresAt = d.time()
	}
	if flags&flagSyncedAt != 0 {
		t := d.time()
		it.SyncedAt = &t
	}
	r.LastError = string(d.bytes(d.uvarint()))
	if d.err {
		return errBadItem
	}
	if len(d.b) > 0 {
		// The data is the rest of the value, with no length of its own:
		// a value cut short would otherwise load as JSON cut short and be
		// served so. json.Valid is a small cost at load beside decoding.
		if !json.Valid(d.b) {
			return errBadItem
		}
		r.Data = json.RawMessage(append([]byte(nil), d.b...))
	}
	return nil
}

// decoder reads format 1; a read past the end sets err and yields zeros.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	d.took(n)
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.took(n)
	return v
}

// took consumes the n bytes a varint read; n <= 0 is a varint cut short
// or too long.
func (d *decoder) took(n int) {
	if n <= 0 {
		d.err = true
		return
	}
	d.b = d.b[n:]
}

func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.err = true
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= uint64(time.Second) {
		d.err = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
