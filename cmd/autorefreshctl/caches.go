package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/autorefresh/autorefresh/client"
)

// caches runs "caches COMMAND".
func (c *cli) caches(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("caches needs a command: list, get, put, delete, pause, resume or sync")
	}
	cmd, args := args[0], args[1:]
	fs := c.flags("caches " + cmd)
	var file string
	lo, hi, what := 1, 1, "a cache name"
	switch cmd {
	case "list":
		lo, hi, what = 0, 0, "no arguments"
	case "put":
		fs.StringVar(&file, "f", "", "the configuration, YAML or JSON")
		lo = 0
	case "get", "delete", "pause", "resume", "sync":
	default:
		return usagef("unknown command caches %q", cmd)
	}
	words, err := parse(fs, args, lo, hi, what)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	switch cmd {
	case "list":
		caches, err := cl.ListCaches(ctx)
		if err != nil {
			return err
		}
		return c.emit(caches, func(w io.Writer) { cacheTable(w, caches) })
	case "put":
		return c.putCache(ctx, cl, words, file)
	case "delete":
		if err := cl.DeleteCache(ctx, words[0]); err != nil {
			return err
		}
		return c.emit(map[string]string{"deleted": words[0]}, func(w io.Writer) { fmt.Fprintf(w, "cache %s deleted\n", words[0]) })
	case "sync":
		if err := cl.SyncCache(ctx, words[0]); err != nil {
			return err
		}
		return c.emit(map[string]bool{"queued": true}, func(w io.Writer) { fmt.Fprintf(w, "cache %s: sync queued\n", words[0]) })
	}
	var ca client.Cache
	switch cmd {
	case "get":
		ca, err = cl.GetCache(ctx, words[0])
	case "pause":
		ca, err = cl.PauseCache(ctx, words[0])
	case "resume":
		ca, err = cl.ResumeCache(ctx, words[0])
	}
	if err != nil {
		return err
	}
	return c.emit(ca, func(w io.Writer) { cacheDetail(w, ca) })
}

// cacheFile is the file of "caches put": a cache's configuration, and
// optionally its name.
type cacheFile struct {
	Name string `json:"name"`
	client.CacheConfig
}

func (c *cli) putCache(ctx context.Context, cl *client.Client, words []string, file string) error {
	if file == "" {
		return usagef("caches put needs -f FILE")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	var cf cacheFile
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	name := cf.Name
	if len(words) == 1 {
		if name != "" && name != words[0] {
			return usagef("the file names cache %q, the command %q", name, words[0])
		}
		name = words[0]
	}
	if name == "" {
		return usagef("caches put needs a cache name, as an argument or as name: in the file")
	}
	ca, created, err := cl.PutCache(ctx, name, cf.CacheConfig)
	if err != nil {
		return err
	}
	return c.emit(ca, func(w io.Writer) {
		fmt.Fprintf(w, "cache %s %s\n", name, map[bool]string{true: "created", false: "reconfigured"}[created])
		cacheDetail(w, ca)
	})
}
