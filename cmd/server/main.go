// Command server runs the autorefresh HTTP service: named AutoRefresh caches
// whose items are refreshed through webhooks, with a REST API under /v1,
// Swagger UI at /docs, the spec at /openapi.yaml and metrics at /metrics.
//
// Every flag has an AUTOREFRESH_* environment variable; a flag given on the
// command line wins. Run with -h for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Exit)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "autorefresh: %v\n", err)
		os.Exit(1)
	}
}
