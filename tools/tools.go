//go:build tools

// Package tools pins the versions of the developer tools that the Makefile
// runs, in a module of their own so the service does not depend on them.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
