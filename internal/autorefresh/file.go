package autorefresh

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// maxFileBytes bounds a --config file; a cache registration is small.
const maxFileBytes = 4 << 20

// File is the --config file: caches to register at start, with the same
// fields as the body of PUT /v1/caches/{cache}.
//
//	caches:
//	  jobs:
//	    webhook: {url: "http://127.0.0.1:9000/sync"}
//	    resyncPeriod: 30s
type File struct {
	Caches map[string]Config `yaml:"caches"`
}

// LoadFile reads and strictly decodes a config file: unknown fields are
// errors, so a typo cannot silently fall back to a default.
func LoadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return ParseFile(b)
}

// ParseFile decodes the text of a config file.
func ParseFile(b []byte) (File, error) {
	if len(b) > maxFileBytes {
		return File{}, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, err
	}
	return f, nil
}

// PutAll registers every cache of f with svc, in name order, and stops at
// the first error, naming the cache. It is written over the Service so that
// every mode loads a --config file alike.
func PutAll(ctx context.Context, svc Service, f File) error {
	for _, name := range slices.Sorted(maps.Keys(f.Caches)) {
		if _, err := svc.Put(ctx, name, f.Caches[name]); err != nil {
			if errs.CodeOf(err) == errs.Internal {
				return fmt.Errorf("cache %q: %w", name, err)
			}
			return fmt.Errorf("cache %q: %s", name, errs.MessageOf(err))
		}
	}
	return nil
}
