//go:build tools

// Package tools pins the versions of the developer tools that the Makefile
// runs, in a module of their own so the service does not depend on them.
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
