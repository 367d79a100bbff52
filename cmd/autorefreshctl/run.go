package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1 // a call failed
	exitUsage    = 2 // the command line is wrong
	exitNotFound = 3 // the cache or item does not exist
)

const usage = `usage: autorefreshctl [--server URL] [--token TOKEN] [-o text|json] GROUP COMMAND ...

caches list
caches get NAME
caches put [NAME] -f FILE        register or reconfigure (FILE is YAML or JSON; it may carry name:)
caches delete NAME
caches pause NAME | resume NAME
caches sync NAME
items list CACHE [--state active|completed|failed|expired] [--terminal true|false] [--limit N]
items get CACHE ID [--wait]      --wait long-polls until the item is terminal
items create CACHE ID [--data JSON] [--terminal] [--ttl DURATION]
items patch CACHE ID [--data JSON] [--terminal true|false] [--if-version N]
items delete CACHE ID
items retry CACHE ID [--ttl DURATION]
watch CACHE [--item ID] [--last-event-id ID]

--server defaults to $AUTOREFRESH_SERVER, else http://127.0.0.1:8080;
--token to $AUTOREFRESH_TOKEN. Exit status: 0 ok, 1 failed, 2 usage, 3 not found.
`

// usageError is a wrong command line: exit status 2, with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// globals are the flags every command takes, before or after its words.
type globals struct {
	server, token, output string
	timeout               time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "the service's base URL ($AUTOREFRESH_SERVER)")
	fs.StringVar(&g.token, "token", g.token, "bearer token ($AUTOREFRESH_TOKEN)")
	fs.StringVar(&g.output, "o", g.output, "output: text or json")
	fs.StringVar(&g.output, "output", g.output, "output: text or json")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "bound of one command (not of watch)")
}

// cli is one run of the command.
type cli struct {
	g              globals
	stdout, stderr io.Writer
}

// run is the whole command, testable: it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, g: globals{
		server: getenv("AUTOREFRESH_SERVER"), token: getenv("AUTOREFRESH_TOKEN"), output: "text", timeout: 30 * time.Second,
	}}
	if c.g.server == "" {
		c.g.server = "http://127.0.0.1:8080"
	}
	err := c.dispatch(ctx, args)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "autorefreshctl: %s\n\n%s", ue.msg, usage)
		return exitUsage
	case client.IsNotFound(err):
		fmt.Fprintf(stderr, "autorefreshctl: %s\n", describe(err))
		return exitNotFound
	default:
		fmt.Fprintf(stderr, "autorefreshctl: %s\n", describe(err))
		return exitFailed
	}
}

// describe says what went wrong without the SDK's prefix.
func describe(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		msg := fmt.Sprintf("%s (%d %s)", apiErr.Message, apiErr.Status, apiErr.Code)
		if apiErr.RetryAfter > 0 {
			msg += fmt.Sprintf("; retry after %s", apiErr.RetryAfter)
		}
		return msg
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Sprintf("cannot reach %s: %v", urlErr.URL, urlErr.Err)
	}
	return strings.TrimPrefix(err.Error(), "autorefresh: ")
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	fs := c.flags("autorefreshctl")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	args = fs.Args()
	if len(args) == 0 {
		return usagef("no command given")
	}
	switch args[0] {
	case "caches":
		return c.caches(ctx, args[1:])
	case "items":
		return c.items(ctx, args[1:])
	case "watch":
		return c.watch(ctx, args[1:])
	case "help":
		return flag.ErrHelp
	}
	return usagef("unknown command %q", args[0])
}

// flags returns a FlagSet with the global flags, quiet: errors are
// reported once, by run.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.g.register(fs)
	return fs
}

// parse parses args with flags and words interleaved ("get jobs a -o
// json"), and checks the number of words.
func parse(fs *flag.FlagSet, args []string, minWords, maxWords int, what string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(words) < minWords || len(words) > maxWords {
		return nil, usagef("%s takes %s", fs.Name(), what)
	}
	return words, nil
}

// client builds the SDK client from the global flags.
func (c *cli) client() (*client.Client, error) {
	if c.g.output != "text" && c.g.output != "json" {
		return nil, usagef("-o must be text or json, not %q", c.g.output)
	}
	cl, err := client.New(c.g.server, client.WithToken(c.g.token), client.WithUserAgent("autorefreshctl"))
	if err != nil {
		return nil, usagef("--server: %s", strings.TrimPrefix(err.Error(), "autorefresh: "))
	}
	return cl, nil
}

// bounded is ctx bounded by --timeout.
func (c *cli) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.g.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.g.timeout)
}
