package main

import (
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/watch"
)

// TestWatchCapFlags: the four watch caps default to the hub's defaults, come
// from their flags or variables, reach the backend's options, and refuse
// anything but a positive number with the flag's name in the error.
func TestWatchCapFlags(t *testing.T) {
	caps := func(args []string, env map[string]string) (watch.Options, error) {
		cfg, err := parseConfig(append([]string{"x", "--in-memory"}, args...), func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			return watch.Options{}, err
		}
		return backendOptions(cfg, zap.NewNop(), prometheus.NewRegistry()).Watch, nil
	}

	got, err := caps(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := watch.Options{MaxStreams: watch.DefaultMaxStreams, MaxWaiters: watch.DefaultMaxWaiters,
		MaxStreamsPerClient: watch.DefaultMaxStreamsPerClient, MaxWaitersPerClient: watch.DefaultMaxWaitersPerClient}
	if got != want {
		t.Fatalf("defaults: %+v, want %+v", got, want)
	}

	got, err = caps([]string{"--max-streams", "7", "--max-long-polls", "8", "--max-streams-per-client", "2"},
		map[string]string{"AUTOREFRESH_MAX_LONG_POLLS_PER_CLIENT": "3", "AUTOREFRESH_MAX_STREAMS_PER_CLIENT": "99"})
	if err != nil {
		t.Fatal(err)
	}
	// The flag wins over its variable (--max-streams-per-client).
	want = watch.Options{MaxStreams: 7, MaxWaiters: 8, MaxStreamsPerClient: 2, MaxWaitersPerClient: 3}
	if got != want {
		t.Fatalf("set: %+v, want %+v", got, want)
	}

	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--max-streams", "0"}, nil, "--max-streams: must be between 1 and 1000000"},
		{[]string{"--max-long-polls", "-5"}, nil, "--max-long-polls: must be between 1 and 1000000"},
		{[]string{"--max-streams-per-client", "0"}, nil, "--max-streams-per-client: must be between 1 and 1000000"},
		{[]string{"--max-long-polls-per-client", "1000001"}, nil, "--max-long-polls-per-client: must be between 1 and 1000000"},
		{[]string{"--max-streams-per-client", "many"}, nil, "max-streams-per-client"},
		{nil, map[string]string{"AUTOREFRESH_MAX_LONG_POLLS_PER_CLIENT": "lots"}, "AUTOREFRESH_MAX_LONG_POLLS_PER_CLIENT"},
	} {
		if _, err := caps(c.args, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want an error with %q", c.args, c.env, err, c.want)
		}
	}
}
