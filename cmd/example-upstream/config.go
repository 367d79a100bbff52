package main

import (
	"flag"
	"fmt"
	"io"
	"time"
)

// defaultAddr is the address the API documentation uses in its examples.
const defaultAddr = "127.0.0.1:9000"

// config is what the command line and environment say.
type config struct {
	addr   string
	secret string
	// nextSyncAfter and errorPrefix turn on the two parts of the reply
	// protocol that the example does not use by default, so that a walk
	// through the README can show an upstream pacing its items and one
	// failing some of them (exampleupstream.Options says what each does).
	nextSyncAfter time.Duration
	errorPrefix   string
}

// parseConfig reads flags from args (args[0] is the program name), falling
// back to the environment and then to defaults. Usage goes to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	name := "example-upstream"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)

	var cfg config
	fs.StringVar(&cfg.addr, "addr", envOr(getenv, "EXAMPLE_UPSTREAM_ADDR", defaultAddr),
		"listen `address` (env EXAMPLE_UPSTREAM_ADDR)")
	// The secret's flag has no default taken from the environment, unlike
	// addr's, so that -h never prints it.
	fs.StringVar(&cfg.secret, "secret", "",
		"Standard Webhooks `secret` (whsec_...) that calls must be signed with; empty accepts unsigned calls (env EXAMPLE_UPSTREAM_SECRET)")
	next := envOr(getenv, "EXAMPLE_UPSTREAM_NEXT_SYNC_AFTER", "0s")
	fs.StringVar(&next, "next-sync-after", next,
		"Go `duration` sent as every reply's nextSyncAfter (how long autorefresh should wait before it looks at the batch's items again); 0 sends none (env EXAMPLE_UPSTREAM_NEXT_SYNC_AFTER)")
	fs.StringVar(&cfg.errorPrefix, "error-prefix", envOr(getenv, "EXAMPLE_UPSTREAM_ERROR_PREFIX", ""),
		"items whose id starts with this `prefix` are answered with an item error (action \"error\"), so they back off and, with retry.maxAttempts, end failed; empty fails none (env EXAMPLE_UPSTREAM_ERROR_PREFIX)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if cfg.secret == "" {
		cfg.secret = getenv("EXAMPLE_UPSTREAM_SECRET")
	}
	d, err := time.ParseDuration(next)
	if err != nil || d < 0 {
		return config{}, fmt.Errorf("-next-sync-after: want a Go duration of 0 or more (like 30s), got %q", next)
	}
	cfg.nextSyncAfter = d
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, nil
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}
