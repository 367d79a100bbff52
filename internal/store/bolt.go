package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/autorefresh/autorefresh/internal/record"
)

// FileName is the database file inside the data directory.
const FileName = "autorefresh.db"

var (
	bucketCaches = []byte("caches") // cache name -> config JSON
	bucketItems  = []byte("items")  // cache name -> bucket of id -> item JSON
	bucketPaused = []byte("paused") // cache name -> "1", for a paused cache only
)

// Bolt is the embedded Store: one bbolt file in a data directory that only
// the server's user can read, since cache configs carry webhook secrets.
type Bolt struct {
	db   *bolt.DB
	path string
}

// OpenBolt opens (or creates) the store in dir. A file that is corrupt or
// truncated, or locked by another server, is an error that names the file;
// it never starts empty in its place.
func OpenBolt(dir string) (b *Bolt, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	// bbolt panics on some kinds of corruption instead of returning an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("data file %s is corrupt (%v); see docs/operations.md to recover", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data file %s is locked by another process", path)
		}
		return nil, fmt.Errorf("data file %s cannot be opened (%w); see docs/operations.md to recover", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketCaches); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketPaused); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketItems)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// Path returns the database file's path.
func (b *Bolt) Path() string { return b.path }

// Apply commits the batch in one transaction: one fsync for all of it.
func (b *Bolt) Apply(_ context.Context, batch []Mutation) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		w := writer{caches: tx.Bucket(bucketCaches), items: tx.Bucket(bucketItems), paused: tx.Bucket(bucketPaused)}
		for _, m := range batch {
			if err := w.apply(m); err != nil {
				return fmt.Errorf("mutation %d on cache %q: %w", m.Seq, m.Cache, err)
			}
		}
		return nil
	})
}

// writer applies the mutations of one transaction. It keeps the bucket of
// the cache it wrote last (a batch is mostly one cache's items) and encodes
// items into shared blocks: bbolt keeps a value's bytes until the commit,
// so each value gets bytes of its own, but not an allocation of its own.
type writer struct {
	caches, items, paused *bolt.Bucket
	name                  string
	bucket                *bolt.Bucket
	block                 []byte
}

// blockSize is the size of the blocks items are encoded into.
const blockSize = 64 << 10

func (w *writer) apply(m Mutation) error {
	name := []byte(m.Cache)
	switch m.Op {
	case PausePut:
		if !m.Paused {
			return w.paused.Delete(name)
		}
		return w.paused.Put(name, []byte("1"))
	case PutCache:
		w.bucket = nil
		if _, err := w.items.CreateBucketIfNotExists(name); err != nil {
			return err
		}
		return w.caches.Put(name, m.Config)
	case DeleteCache:
		w.bucket = nil
		if err := w.items.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if err := w.paused.Delete(name); err != nil {
			return err
		}
		return w.caches.Delete(name)
	}
	if w.bucket == nil || w.name != m.Cache {
		cb, err := w.items.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		w.name, w.bucket = m.Cache, cb
	}
	cb := w.bucket
	switch m.Op {
	case PutItem:
		return cb.Put([]byte(m.Item.ID), w.encode(m.Item, m.SyncedAt, false))
	case MarkDelete:
		v := cb.Get([]byte(m.ID))
		if v == nil {
			return nil
		}
		var it Item
		if err := decodeItem(m.ID, v, &it); err != nil {
			return err
		}
		var synced time.Time
		if it.SyncedAt != nil {
			synced = *it.SyncedAt
		}
		return cb.Put([]byte(m.ID), w.encode(&it.Record, synced, true))
	case DeleteItem:
		return cb.Delete([]byte(m.ID))
	}
	return fmt.Errorf("unknown op %d", m.Op)
}

// encode returns an item in its stored form (see appendItem), in bytes
// that stay put until the transaction ends.
func (w *writer) encode(r *record.Record, syncedAt time.Time, pendingDelete bool) []byte {
	need := 128 + len(r.Data) + len(r.LastError)
	if cap(w.block)-len(w.block) < need {
		w.block = make([]byte, 0, max(blockSize, need))
	}
	start := len(w.block)
	w.block = appendItem(w.block, r, syncedAt, pendingDelete)
	// Full slice expression: a later append never writes into this value.
	return w.block[start:len(w.block):len(w.block)]
}

// Load reads everything back. A record that does not decode is an error
// naming the file, the cache and the id.
func (b *Bolt) Load(_ context.Context) (out []CacheState, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("data file %s is corrupt (%v); see docs/operations.md to recover", b.path, r)
		}
	}()
	err = b.db.View(func(tx *bolt.Tx) error {
		caches, items, paused := tx.Bucket(bucketCaches), tx.Bucket(bucketItems), tx.Bucket(bucketPaused)
		return caches.ForEach(func(k, v []byte) error {
			cs := CacheState{Name: string(k), Config: bytes.Clone(v), Paused: paused.Get(k) != nil}
			if !json.Valid(cs.Config) {
				return fmt.Errorf("data file %s: cache %q: config is not valid JSON", b.path, k)
			}
			if cb := items.Bucket(k); cb != nil {
				var err error
				if cs.Items, err = decodeAll(cb); err != nil {
					return fmt.Errorf("data file %s: cache %q: %w", b.path, k, err)
				}
			}
			out = append(out, cs)
			return nil
		})
	})
	return out, err
}

// decodeAll decodes every item of a cache's bucket. The walk of the bucket
// is one goroutine's; the decoding, most of a restart's work, is spread
// over every CPU, each goroutine taking its own range of the items.
func decodeAll(cb *bolt.Bucket) ([]Item, error) {
	type kv struct{ k, v []byte }
	var raw []kv // bbolt's own memory, valid until the transaction ends
	if err := cb.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("item %q is a bucket", k)
		}
		raw = append(raw, kv{k, v})
		return nil
	}); err != nil {
		return nil, err
	}
	items := make([]Item, len(raw))
	workers := min(runtime.GOMAXPROCS(0), 1+len(raw)/1024)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(raw)/workers, (w+1)*len(raw)/workers
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				id := string(raw[i].k)
				if err := decodeItem(id, raw[i].v, &items[i]); err != nil {
					errs[w] = fmt.Errorf("item %q does not decode: %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return items, errors.Join(errs...)
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }
