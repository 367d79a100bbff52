// Package api holds the service's OpenAPI document, the one description of
// the HTTP contract that handlers, request validation, Swagger UI and clients
// all share.
package api

import (
	"context"
	_ "embed" // for go:embed
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// spec is embedded so that the binary serves exactly the document it was
// built against, with no file to ship beside it.
//
//go:embed openapi.yaml
var spec []byte

// Spec returns the OpenAPI document as YAML, as it is served at /openapi.yaml.
// The caller gets its own copy and may modify it.
func Spec() []byte {
	return append([]byte(nil), spec...)
}

// Load parses the document and validates it against the OpenAPI 3.0 rules
// (examples included). Each call returns a fresh document, so callers may
// modify theirs without affecting anyone else.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("api: load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api: validate openapi.yaml: %w", err)
	}
	return doc, nil
}
