package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
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
		caches, items, paused := tx.Bucket(bucketCaches), tx.Bucket(bucketItems), tx.Bucket(bucketPaused)
		for _, m := range batch {
			if err := apply(caches, items, paused, m); err != nil {
				return fmt.Errorf("mutation %d on cache %q: %w", m.Seq, m.Cache, err)
			}
		}
		return nil
	})
}

func apply(caches, items, paused *bolt.Bucket, m Mutation) error {
	name := []byte(m.Cache)
	switch m.Op {
	case PausePut:
		if !m.Paused {
			return paused.Delete(name)
		}
		return paused.Put(name, []byte("1"))
	case PutCache:
		if _, err := items.CreateBucketIfNotExists(name); err != nil {
			return err
		}
		return caches.Put(name, m.Config)
	case DeleteCache:
		if err := items.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if err := paused.Delete(name); err != nil {
			return err
		}
		return caches.Delete(name)
	}
	cb, err := items.CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	switch m.Op {
	case PutItem:
		v, err := json.Marshal(m.Item)
		if err != nil {
			return err
		}
		return cb.Put([]byte(m.Item.ID), v)
	case MarkDelete:
		v := cb.Get([]byte(m.ID))
		if v == nil {
			return nil
		}
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		it.PendingDelete = true
		nv, err := json.Marshal(&it)
		if err != nil {
			return err
		}
		return cb.Put([]byte(m.ID), nv)
	case DeleteItem:
		return cb.Delete([]byte(m.ID))
	}
	return fmt.Errorf("unknown op %d", m.Op)
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
				err := cb.ForEach(func(id, v []byte) error {
					var it Item
					if err := json.Unmarshal(v, &it); err != nil || it.ID != string(id) {
						return fmt.Errorf("data file %s: cache %q: item %q does not decode", b.path, k, id)
					}
					cs.Items = append(cs.Items, it)
					return nil
				})
				if err != nil {
					return err
				}
			}
			out = append(out, cs)
			return nil
		})
	})
	return out, err
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }
