package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// config is what the command line and the environment say.
type config struct {
	addr                 string
	logLevel             zapcore.Level
	allowPrivateWebhooks bool
	allowWebhookCIDRs    []netip.Prefix
	// trustedProxies are --trusted-proxies: peers whose X-Forwarded-For
	// names the client.
	trustedProxies  []netip.Prefix
	configFile      string
	dataDir         string
	inMemory        bool
	shutdownTimeout time.Duration
	// shutdownDelay is how long the server goes on serving, with /readyz
	// at 503, between SIGTERM and the drain.
	shutdownDelay   time.Duration
	authTokensFile  string
	metricsAuth     bool
	rateLimit       int
	tlsCert, tlsKey string
	tlsMinVersion   uint16 // tls.VersionTLS12 or tls.VersionTLS13
	maxCaches       int
	maxItems        int64
	maxWebhookCalls int
	// showVersion is --version: print the build's identity and exit.
	showVersion bool
	// gcFloorMiB is the heap goal the GC percentage is raised to reach
	// (see gcfloor.go); 0 leaves Go's GC as GOGC says.
	gcFloorMiB int64
	// The watch caps: event streams and long-polls held open, by the whole
	// server and by one client (watch.Options).
	maxStreams, maxLongPolls                   int
	maxStreamsPerClient, maxLongPollsPerClient int
	// postgresURL, if set, keeps all state in PostgreSQL (internal/replicated)
	// instead of the bbolt file, so that many replicas can share it.
	postgresURL string
	// allowedHosts is --allowed-hosts; nil leaves the default to run,
	// which knows the listener (see allowedHosts there).
	allowedHosts []string
}

// envFlags defines flags whose defaults come from AUTOREFRESH_* variables.
// A value in the environment that does not parse is an error, not a silent
// fallback to the built-in default.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (e *envFlags) env(key, fallback string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return fallback
}

func (e *envFlags) str(p *string, name, key, fallback, usage string) {
	e.fs.StringVar(p, name, e.env(key, fallback), usage+" (env "+key+")")
}

func (e *envFlags) boolean(p *bool, name, key, usage string) {
	v, err := strconv.ParseBool(e.env(key, "false"))
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not true or false", key, e.getenv(key)))
	}
	e.fs.BoolVar(p, name, v, usage+" (env "+key+")")
}

func (e *envFlags) integer(p *int64, name, key string, fallback int64, usage string) {
	v, err := strconv.ParseInt(e.env(key, strconv.FormatInt(fallback, 10)), 10, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a whole number", key, e.getenv(key)))
	}
	e.fs.Int64Var(p, name, v, usage+" (env "+key+")")
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
	f := &envFlags{fs: fs, getenv: getenv}

	var cfg config
	var level, shutdown, shutdownDelay, cidrs, proxies, tlsMin, hosts string
	var rateLimit, maxCaches, maxCalls int64
	var maxStreams, maxPolls, maxClientStreams, maxClientPolls int64
	f.str(&cfg.addr, "addr", "AUTOREFRESH_ADDR", ":8080", "listen `address`")
	f.str(&level, "log-level", "AUTOREFRESH_LOG_LEVEL", "info", "log `level`: debug, info, warn, error")
	f.boolean(&cfg.allowPrivateWebhooks, "allow-private-webhooks", "AUTOREFRESH_ALLOW_PRIVATE_WEBHOOKS",
		"let webhooks reach loopback, private and link-local addresses")
	f.str(&cidrs, "allow-webhook-cidrs", "AUTOREFRESH_ALLOW_WEBHOOK_CIDRS", "",
		"comma-separated `networks` that webhooks may reach although not public, e.g. 127.0.0.1/32")
	f.str(&proxies, "trusted-proxies", "AUTOREFRESH_TRUSTED_PROXIES", "",
		"comma-separated `networks` of proxies in front of the server, whose X-Forwarded-For names the client for the rate limits, the per-client caps and the access log")
	f.str(&cfg.configFile, "config", "AUTOREFRESH_CONFIG", "", "YAML `file` of caches to register at start")
	f.str(&cfg.dataDir, "data-dir", "AUTOREFRESH_DATA_DIR", "data", "`directory` that keeps caches and items across restarts")
	f.boolean(&cfg.inMemory, "in-memory", "AUTOREFRESH_IN_MEMORY", "keep everything in memory only: a restart forgets it all")
	f.str(&shutdown, "shutdown-timeout", "AUTOREFRESH_SHUTDOWN_TIMEOUT", "15s",
		"how long requests and syncs under way may finish after SIGTERM")
	f.str(&shutdownDelay, "shutdown-delay", "AUTOREFRESH_SHUTDOWN_DELAY", "0s",
		"how long the server goes on serving after SIGTERM, with /readyz answering 503, before it drains (for load balancers)")
	f.str(&cfg.authTokensFile, "auth-tokens-file", "AUTOREFRESH_AUTH_TOKENS_FILE", "",
		"`file` of bearer tokens (lines: read|write TOKEN [NAME]); without it the API is open")
	f.boolean(&cfg.metricsAuth, "metrics-auth", "AUTOREFRESH_METRICS_AUTH", "require a read token for /metrics too")
	f.integer(&rateLimit, "rate-limit", "AUTOREFRESH_RATE_LIMIT", 0, "requests per second allowed to each client (token or IP) on /v1; 0 for no limit")
	f.str(&hosts, "allowed-hosts", "AUTOREFRESH_ALLOWED_HOSTS", "",
		"comma-separated `host[:port]` names requests may carry in Host (others get 421); default without tokens on loopback: the listen address, localhost and 127.0.0.1 on its port")
	f.str(&cfg.tlsCert, "tls-cert", "AUTOREFRESH_TLS_CERT", "", "PEM certificate `file`; with --tls-key, serve HTTPS")
	f.str(&cfg.tlsKey, "tls-key", "AUTOREFRESH_TLS_KEY", "", "PEM private key `file`")
	f.str(&tlsMin, "tls-min-version", "AUTOREFRESH_TLS_MIN_VERSION", "1.2", "oldest TLS `version` accepted: 1.2 or 1.3")
	f.integer(&maxCaches, "max-caches", "AUTOREFRESH_MAX_CACHES", autorefresh.DefaultMaxCaches, "most caches the server hosts")
	f.integer(&cfg.maxItems, "max-items", "AUTOREFRESH_MAX_ITEMS", autorefresh.DefaultMaxItems, "most items of all caches together")
	f.integer(&maxCalls, "max-webhook-calls", "AUTOREFRESH_MAX_WEBHOOK_CALLS", syncers.DefaultMaxCalls,
		"most webhook calls in flight across all caches, shared fairly between them")
	f.integer(&maxStreams, "max-streams", "AUTOREFRESH_MAX_STREAMS", watch.DefaultMaxStreams, "most event streams open at once on the server")
	f.integer(&maxPolls, "max-long-polls", "AUTOREFRESH_MAX_LONG_POLLS", watch.DefaultMaxWaiters, "most long-polls (GET ?waitForChange=true) waiting at once on the server")
	f.integer(&maxClientStreams, "max-streams-per-client", "AUTOREFRESH_MAX_STREAMS_PER_CLIENT", watch.DefaultMaxStreamsPerClient,
		"most event streams one client (token, or IP without one) holds open at once")
	f.integer(&maxClientPolls, "max-long-polls-per-client", "AUTOREFRESH_MAX_LONG_POLLS_PER_CLIENT", watch.DefaultMaxWaitersPerClient,
		"most long-polls one client (token, or IP without one) has waiting at once")
	f.integer(&cfg.gcFloorMiB, "gc-floor-mib", "AUTOREFRESH_GC_FLOOR_MIB", 128,
		"heap `MiB` below which the garbage collector waits for more garbage before it runs (it raises the GC percentage for a small heap); 0 for Go's default, as does setting GOGC")
	fs.BoolVar(&cfg.showVersion, "version", false, "print the version, revision and Go version, and exit")
	// Not f.str: the URL may hold a password, and a flag's default is shown
	// by -help. The variable is read after parsing instead.
	fs.StringVar(&cfg.postgresURL, "postgres", "",
		"PostgreSQL `URL`: keep caches and items there instead of --data-dir, shared by any number of replicas (env AUTOREFRESH_POSTGRES_URL, preferred: a command line is visible to ps)")
	if len(f.errs) > 0 {
		return config{}, f.errs[0]
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.logLevel, err = zapcore.ParseLevel(level); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if cfg.allowWebhookCIDRs, err = parseNetworks("--allow-webhook-cidrs", cidrs); err != nil {
		return config{}, err
	}
	if cfg.trustedProxies, err = parseNetworks("--trusted-proxies", proxies); err != nil {
		return config{}, err
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.allowedHosts = append(cfg.allowedHosts, h)
		}
	}
	if cfg.shutdownTimeout, err = time.ParseDuration(shutdown); err != nil || cfg.shutdownTimeout < 0 {
		return config{}, fmt.Errorf("--shutdown-timeout: %q is not a duration such as 15s", shutdown)
	}
	if cfg.shutdownDelay, err = time.ParseDuration(shutdownDelay); err != nil || cfg.shutdownDelay < 0 {
		return config{}, fmt.Errorf("--shutdown-delay: %q is not a duration such as 5s", shutdownDelay)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return config{}, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	switch tlsMin {
	case "1.2":
		cfg.tlsMinVersion = tls.VersionTLS12
	case "1.3":
		cfg.tlsMinVersion = tls.VersionTLS13
	default:
		// 1.0 and 1.1 are deprecated (RFC 8996) and not offered.
		return config{}, fmt.Errorf("--tls-min-version: %q is not 1.2 or 1.3", tlsMin)
	}
	switch {
	case rateLimit < 0 || rateLimit > 1_000_000:
		return config{}, fmt.Errorf("--rate-limit: must be between 0 and 1000000")
	case maxCaches < 1 || maxCaches > 1_000_000:
		return config{}, fmt.Errorf("--max-caches: must be between 1 and 1000000")
	case cfg.maxItems < 1:
		return config{}, fmt.Errorf("--max-items: must be at least 1")
	case maxCalls < 1 || maxCalls > 100_000:
		return config{}, fmt.Errorf("--max-webhook-calls: must be between 1 and 100000")
	case cfg.gcFloorMiB < 0 || cfg.gcFloorMiB > 1<<20:
		return config{}, fmt.Errorf("--gc-floor-mib: must be between 0 and 1048576")
	}
	// Each stream and long-poll holds a connection: a million is far past
	// what one process serves, and a bound keeps a typo from reading as
	// "no cap".
	for _, c := range []struct {
		name string
		v    int64
		p    *int
	}{
		{"--max-streams", maxStreams, &cfg.maxStreams},
		{"--max-long-polls", maxPolls, &cfg.maxLongPolls},
		{"--max-streams-per-client", maxClientStreams, &cfg.maxStreamsPerClient},
		{"--max-long-polls-per-client", maxClientPolls, &cfg.maxLongPollsPerClient},
	} {
		if c.v < 1 || c.v > 1_000_000 {
			return config{}, fmt.Errorf("%s: must be between 1 and 1000000, not %d", c.name, c.v)
		}
		*c.p = int(c.v)
	}
	cfg.rateLimit, cfg.maxCaches, cfg.maxWebhookCalls = int(rateLimit), int(maxCaches), int(maxCalls)
	if err := checkDescriptors(cfg.maxWebhookCalls); err != nil {
		return config{}, err
	}
	if cfg.postgresURL == "" {
		cfg.postgresURL = getenv("AUTOREFRESH_POSTGRES_URL")
	}
	if cfg.postgresURL != "" && cfg.inMemory {
		return config{}, fmt.Errorf("--postgres and --in-memory do not go together")
	}
	if cfg.metricsAuth && cfg.authTokensFile == "" {
		return config{}, fmt.Errorf("--metrics-auth needs --auth-tokens-file")
	}
	return cfg, nil
}

// parseNetworks reads a comma-separated list of networks such as
// 10.0.0.0/8; the flag's name is for the error.
func parseNetworks(flagName, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a network such as 127.0.0.1/32", flagName, c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// backendOptions are the options of the service that the flags ask for.
// One storage is chosen: --postgres, else --in-memory, else --data-dir.
func backendOptions(cfg config, log *zap.Logger, reg prometheus.Registerer) backend.Options {
	o := backend.Options{
		Registerer: reg, Logger: log,
		Egress:       &egress.Policy{AllowPrivate: cfg.allowPrivateWebhooks, Allow: cfg.allowWebhookCIDRs},
		DrainTimeout: cfg.shutdownTimeout, MaxCaches: cfg.maxCaches, MaxItems: cfg.maxItems,
		MaxWebhookCalls: cfg.maxWebhookCalls,
		Watch: watch.Options{
			MaxStreams: cfg.maxStreams, MaxWaiters: cfg.maxLongPolls,
			MaxStreamsPerClient: cfg.maxStreamsPerClient, MaxWaitersPerClient: cfg.maxLongPollsPerClient,
		},
	}
	switch {
	case cfg.postgresURL != "":
		o.PostgresURL = cfg.postgresURL
	case cfg.inMemory:
		o.InMemory = true
	default:
		o.DataDir = cfg.dataDir
	}
	return o
}
