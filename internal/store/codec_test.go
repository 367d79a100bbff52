package store

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/autorefresh/autorefresh/internal/record"
)

// full is an item with every field set.
func full(id string) Item {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 123_456_789).UTC() }
	synced := at(3)
	return Item{Record: record.Record{
		ID: id, Data: json.RawMessage(`{"a":[1,"x"]}`), Terminal: true, Version: 42,
		CreatedAt: at(0), UpdatedAt: at(1), State: record.StateFailed, Attempts: 7,
		LastError: "upstream said no", ExpiresAt: at(2),
	}, SyncedAt: &synced, PendingDelete: true}
}

func TestCodecKnowsEveryField(t *testing.T) {
	// A field added to record.Record or Item must be added to the binary
	// form (codec.go) too, or it would be lost at the next restart.
	if n := reflect.TypeOf(record.Record{}).NumField(); n != 10 {
		t.Fatalf("record.Record has %d fields, the codec knows 10: add the new one to codec.go and to full", n)
	}
	if n := reflect.TypeOf(Item{}).NumField(); n != 3 {
		t.Fatalf("store.Item has %d fields, the codec knows 3", n)
	}
	it := full("x")
	for i, v := 0, reflect.ValueOf(it.Record); i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("full leaves record field %s unset", v.Type().Field(i).Name)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	minimal := Item{Record: record.Record{ID: "m", Data: json.RawMessage(`1`)}}
	negative := full("n")
	negative.Version, negative.CreatedAt = -1, time.Unix(-5, 1).UTC()
	for _, want := range []Item{full("f"), minimal, negative, {Record: record.Record{ID: "nodata"}}} {
		var synced time.Time
		if want.SyncedAt != nil {
			synced = *want.SyncedAt
		}
		v := appendItem(nil, &want.Record, synced, want.PendingDelete)
		var got Item
		if err := decodeItem(want.ID, v, &got); err != nil {
			t.Fatalf("%s: %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		// Every cut short of the whole value is refused, but a cut that
		// leaves data that is still JSON (the data is the value's tail,
		// without a length: cut at its start, the item reads as having
		// none).
		start := len(v) - len(want.Data)
		for n := 1; n < len(v); n++ {
			if n == start || n > start && json.Valid(v[start:n]) {
				continue
			}
			if err := decodeItem(want.ID, v[:n], &got); err == nil {
				t.Fatalf("%s: %d of %d bytes decode", want.ID, n, len(v))
			}
		}
	}
}

// TestLoadsItemsStoredAsJSON opens a file whose items are in the JSON form
// that servers wrote before the binary form: they load, a MarkDelete
// rewrites one in the new form, and both forms load side by side.
func TestLoadsItemsStoredAsJSON(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := []Item{full("a"), {Record: record.Record{ID: "b", Data: json.RawMessage(`{"x":1}`), Version: 1, CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}}}
	old[0].PendingDelete = false
	values := map[string][]byte{}
	for i := range old {
		v, err := json.Marshal(&old[i]) // what Apply wrote before
		if err != nil {
			t.Fatal(err)
		}
		values[old[i].ID] = v
	}
	putRaw(t, db, values)
	check := func(want []Item) {
		t.Helper()
		states, err := db.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 1 || !reflect.DeepEqual(states[0].Items, want) {
			t.Fatalf("loaded %+v\nwant %+v", states, want)
		}
	}
	check(old)
	if err := db.Apply(context.Background(), []Mutation{{Op: MarkDelete, Cache: "jobs", ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	old[0].PendingDelete = true
	check(old)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadNamesAnItemThatDoesNotDecode(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	putRaw(t, db, map[string][]byte{"bad": {formatBinary1, 0, 0, 0x80}})
	_, err = db.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), `cache "jobs": item "bad" does not decode`) {
		t.Fatalf("Load: %v", err)
	}
}

// putRaw writes a cache "jobs" with the given item values, as they are,
// past Apply.
func putRaw(t *testing.T, db *Bolt, values map[string][]byte) {
	t.Helper()
	err := db.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketCaches).Put([]byte("jobs"), []byte(`{}`)); err != nil {
			return err
		}
		cb, err := tx.Bucket(bucketItems).CreateBucket([]byte("jobs"))
		if err != nil {
			return err
		}
		for id, v := range values {
			if err := cb.Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
