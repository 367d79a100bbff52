// Command autorefreshctl is the command line of the autorefresh service,
// built on its Go SDK (package client): it registers and inspects caches,
// creates, reads, patches and retries items, and follows a cache's events.
//
//	autorefreshctl [--server URL] [--token TOKEN] [-o text|json] GROUP COMMAND [ARGS] [FLAGS]
//
//	autorefreshctl caches list|get NAME|put [NAME] -f FILE|delete NAME|pause NAME|resume NAME|sync NAME
//	autorefreshctl items list CACHE [--state S] [--terminal true|false] [--limit N]
//	autorefreshctl items get|delete CACHE ID
//	autorefreshctl items create CACHE ID [--data JSON] [--terminal] [--ttl DURATION]
//	autorefreshctl items patch CACHE ID [--data JSON] [--terminal true|false] [--if-version N]
//	autorefreshctl items retry CACHE ID [--ttl DURATION]
//	autorefreshctl watch CACHE [--item ID] [--last-event-id ID]
//
// --server and --token default to $AUTOREFRESH_SERVER (else
// http://127.0.0.1:8080) and $AUTOREFRESH_TOKEN. Output is an aligned
// table, or JSON with -o json (one object per line for watch). The exit
// status is 0 on success, 1 when a call fails, 2 for a usage error and 3
// when the cache or item does not exist.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
