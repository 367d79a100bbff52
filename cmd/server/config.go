package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// config is what the command line and the environment say.
type config struct {
	addr                 string
	logLevel             zapcore.Level
	allowPrivateWebhooks bool
	allowWebhookCIDRs    []netip.Prefix
	configFile           string
	dataDir              string
	inMemory             bool
	shutdownTimeout      time.Duration
}

// parseConfig reads flags from args (args[0] is the program name). Each flag
// defaults to its AUTOREFRESH_* variable, then to the built-in default.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	name := "autorefresh"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	env := func(key, fallback string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return fallback
	}

	var cfg config
	var level, allowPrivate, shutdown, inMemory string
	fs.StringVar(&cfg.addr, "addr", env("AUTOREFRESH_ADDR", ":8080"), "listen `address` (env AUTOREFRESH_ADDR)")
	fs.StringVar(&level, "log-level", env("AUTOREFRESH_LOG_LEVEL", "info"), "log `level`: debug, info, warn, error (env AUTOREFRESH_LOG_LEVEL)")
	fs.StringVar(&allowPrivate, "allow-private-webhooks", env("AUTOREFRESH_ALLOW_PRIVATE_WEBHOOKS", "false"),
		"let webhooks reach loopback, private and link-local addresses (env AUTOREFRESH_ALLOW_PRIVATE_WEBHOOKS)")
	cidrs := fs.String("allow-webhook-cidrs", env("AUTOREFRESH_ALLOW_WEBHOOK_CIDRS", ""),
		"comma-separated `networks` that webhooks may reach although not public, e.g. 127.0.0.1/32 (env AUTOREFRESH_ALLOW_WEBHOOK_CIDRS)")
	fs.StringVar(&cfg.configFile, "config", env("AUTOREFRESH_CONFIG", ""), "YAML `file` of caches to register at start (env AUTOREFRESH_CONFIG)")
	fs.StringVar(&cfg.dataDir, "data-dir", env("AUTOREFRESH_DATA_DIR", "data"),
		"`directory` that keeps caches and items across restarts (env AUTOREFRESH_DATA_DIR)")
	fs.StringVar(&inMemory, "in-memory", env("AUTOREFRESH_IN_MEMORY", "false"),
		"keep everything in memory only: a restart forgets it all (env AUTOREFRESH_IN_MEMORY)")
	fs.StringVar(&shutdown, "shutdown-timeout", env("AUTOREFRESH_SHUTDOWN_TIMEOUT", "15s"),
		"how long requests and syncs under way may finish after SIGTERM (env AUTOREFRESH_SHUTDOWN_TIMEOUT)")
	// A bare --allow-private-webhooks reads as true, like a bool flag.
	if err := fs.Parse(boolFlags(args, "allow-private-webhooks", "in-memory")); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.logLevel, err = zapcore.ParseLevel(level); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if cfg.allowPrivateWebhooks, err = strconv.ParseBool(allowPrivate); err != nil {
		return config{}, fmt.Errorf("--allow-private-webhooks: %q is not true or false", allowPrivate)
	}
	if cfg.inMemory, err = strconv.ParseBool(inMemory); err != nil {
		return config{}, fmt.Errorf("--in-memory: %q is not true or false", inMemory)
	}
	for _, c := range strings.Split(*cidrs, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return config{}, fmt.Errorf("--allow-webhook-cidrs: %q is not a network such as 127.0.0.1/32", c)
		}
		cfg.allowWebhookCIDRs = append(cfg.allowWebhookCIDRs, p.Masked())
	}
	if cfg.shutdownTimeout, err = time.ParseDuration(shutdown); err != nil || cfg.shutdownTimeout < 0 {
		return config{}, fmt.Errorf("--shutdown-timeout: %q is not a duration such as 15s", shutdown)
	}
	return cfg, nil
}

// boolFlags rewrites a bare "--name" of a string-backed boolean flag into
// "--name=true", so booleans can also come from the environment.
func boolFlags(args []string, names ...string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		for _, n := range names {
			if a == "-"+n || a == "--"+n {
				out[i] = a + "=true"
			}
		}
	}
	return out
}
