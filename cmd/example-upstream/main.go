// Command example-upstream runs the example webhook upstream of autorefresh
// (see internal/exampleupstream): every item it is asked about goes from
// Not-started to Started to Completed over two calls.
//
// Point a cache's webhook at http://ADDR/sync. Flags override environment
// variables:
//
//	--addr    EXAMPLE_UPSTREAM_ADDR    listen address (default 127.0.0.1:9000)
//	--secret  EXAMPLE_UPSTREAM_SECRET  Standard Webhooks secret, whsec_...;
//	                                   empty accepts unsigned calls
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the usage; that is a success
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "example-upstream: %v\n", err)
		os.Exit(1)
	}
}
