package main

import (
	"flag"
	"fmt"
	"io"
)

// defaultAddr is the address the API documentation uses in its examples.
const defaultAddr = "127.0.0.1:9000"

// config is what the command line and environment say.
type config struct {
	addr   string
	secret string
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
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if cfg.secret == "" {
		cfg.secret = getenv("EXAMPLE_UPSTREAM_SECRET")
	}
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
