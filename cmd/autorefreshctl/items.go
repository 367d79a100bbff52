package main

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// itemFlags are the flags of the items commands; each command registers
// the ones it takes.
type itemFlags struct {
	data, terminalS, state, ttl string
	terminal, wait              bool
	ifVersion                   int64
	limit                       int
}

// items runs "items COMMAND".
func (c *cli) items(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("items needs a command: list, get, create, patch, delete or retry")
	}
	cmd, args := args[0], args[1:]
	fs := c.flags("items " + cmd)
	var f itemFlags
	lo, hi, what := 2, 2, "a cache name and an item id"
	switch cmd {
	case "list":
		fs.StringVar(&f.state, "state", "", "only items in this state: active, completed, failed or expired")
		fs.StringVar(&f.terminalS, "terminal", "", "only terminal (true) or non-terminal (false) items")
		fs.IntVar(&f.limit, "limit", 0, "the most items to list (0: all)")
		lo, hi, what = 1, 1, "a cache name"
	case "get":
		fs.BoolVar(&f.wait, "wait", false, "long-poll until the item is terminal")
	case "create":
		fs.StringVar(&f.data, "data", "", "the item's data, as JSON")
		fs.BoolVar(&f.terminal, "terminal", false, "create it terminal")
		fs.StringVar(&f.ttl, "ttl", "", "the item's deadline, such as 1h")
	case "patch":
		fs.StringVar(&f.data, "data", "", "the new data, as JSON")
		fs.StringVar(&f.terminalS, "terminal", "", "the new terminal flag: true or false")
		fs.Int64Var(&f.ifVersion, "if-version", 0, "apply only if the item is at this version")
	case "retry":
		fs.StringVar(&f.ttl, "ttl", "", "the new deadline, such as 1h")
	case "delete":
	default:
		return usagef("unknown command items %q", cmd)
	}
	words, err := parse(fs, args, lo, hi, what)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if cmd == "list" {
		return c.listItems(ctx, cl, words[0], f)
	}
	cache, id := words[0], words[1]
	data, err := jsonFlag(f.data)
	if err != nil {
		return err
	}
	ttl, err := durationFlag(f.ttl)
	if err != nil {
		return err
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	var it client.Item
	switch cmd {
	case "get":
		if f.wait {
			it, err = cl.WaitTerminal(ctx, cache, id)
		} else {
			it, err = cl.GetItem(ctx, cache, id)
		}
	case "create":
		it, _, err = cl.CreateItem(ctx, cache, client.CreateItem{ID: id, Data: data, Terminal: f.terminal, TTL: ttl})
	case "patch":
		p := client.ItemPatch{Data: data}
		if f.terminalS != "" {
			t, perr := strconv.ParseBool(f.terminalS)
			if perr != nil {
				return usagef("--terminal must be true or false, not %q", f.terminalS)
			}
			p.Terminal = &t
		}
		if p.Data == nil && p.Terminal == nil {
			return usagef("items patch needs --data or --terminal")
		}
		it, err = cl.PatchItem(ctx, cache, id, p, f.ifVersion)
	case "delete":
		it, err = cl.DeleteItem(ctx, cache, id)
	case "retry":
		it, err = cl.RetryItem(ctx, cache, id, ttl)
	}
	if err != nil {
		return err
	}
	return c.emit(it, func(w io.Writer) { itemTable(w, []client.Item{it}) })
}

func (c *cli) listItems(ctx context.Context, cl *client.Client, cache string, f itemFlags) error {
	opts := client.ListOptions{State: client.ItemState(f.state)}
	switch f.state {
	case "", "active", "completed", "failed", "expired":
	default:
		return usagef("--state must be active, completed, failed or expired, not %q", f.state)
	}
	if f.terminalS != "" {
		t, err := strconv.ParseBool(f.terminalS)
		if err != nil {
			return usagef("--terminal must be true or false, not %q", f.terminalS)
		}
		opts.Terminal = &t
	}
	if f.limit < 0 {
		return usagef("--limit must not be negative")
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	items := []client.Item{}
	for it, err := range cl.Items(ctx, cache, opts) {
		if err != nil {
			return err
		}
		items = append(items, it)
		if f.limit > 0 && len(items) == f.limit {
			break
		}
	}
	return c.emit(items, func(w io.Writer) { itemTable(w, items) })
}

// jsonFlag checks a --data value; "" means none.
func jsonFlag(s string) (json.RawMessage, error) {
	if s == "" {
		return nil, nil
	}
	if !json.Valid([]byte(s)) {
		return nil, usagef("--data must be JSON, such as '{\"status\":\"new\"}' or '\"text\"'")
	}
	return json.RawMessage(s), nil
}

func durationFlag(s string) (client.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--ttl must be a positive duration such as 1h, not %q", s)
	}
	return client.Duration(d), nil
}
