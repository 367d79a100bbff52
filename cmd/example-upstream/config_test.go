package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{
		"EXAMPLE_UPSTREAM_ADDR":   "127.0.0.1:9100",
		"EXAMPLE_UPSTREAM_SECRET": "whsec_ZW52",
	}
	getenv := func(k string) string { return env[k] }

	cfg, err := parseConfig([]string{"x"}, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.addr != defaultAddr || cfg.secret != "" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"x"}, getenv, io.Discard)
	if err != nil || cfg.addr != "127.0.0.1:9100" || cfg.secret != "whsec_ZW52" {
		t.Errorf("environment: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"x", "--addr", "127.0.0.1:9200", "--secret", "whsec_ZmxhZw=="}, getenv, io.Discard)
	if err != nil || cfg.addr != "127.0.0.1:9200" || cfg.secret != "whsec_ZmxhZw==" {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
}

func TestHelpDoesNotShowTheSecret(t *testing.T) {
	var out strings.Builder
	getenv := func(k string) string {
		if k == "EXAMPLE_UPSTREAM_SECRET" {
			return "whsec_c2VjcmV0"
		}
		return ""
	}
	_, err := parseConfig([]string{"x", "-h"}, getenv, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "-addr") || strings.Contains(out.String(), "c2VjcmV0") {
		t.Errorf("usage:\n%s", out.String())
	}
}

func TestConfigReplyProtocolOptions(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := parseConfig([]string{"x"}, none, io.Discard)
	if err != nil || cfg.nextSyncAfter != 0 || cfg.errorPrefix != "" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	env := map[string]string{"EXAMPLE_UPSTREAM_NEXT_SYNC_AFTER": "45s", "EXAMPLE_UPSTREAM_ERROR_PREFIX": "gone-"}
	cfg, err = parseConfig([]string{"x"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.nextSyncAfter != 45*time.Second || cfg.errorPrefix != "gone-" {
		t.Errorf("environment: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"x", "-next-sync-after", "2m", "-error-prefix", "missing-"}, none, io.Discard)
	if err != nil || cfg.nextSyncAfter != 2*time.Minute || cfg.errorPrefix != "missing-" {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
	for _, bad := range []string{"soon", "-5s"} {
		if _, err := parseConfig([]string{"x", "-next-sync-after", bad}, none, io.Discard); err == nil || !strings.Contains(err.Error(), "next-sync-after") {
			t.Errorf("-next-sync-after %q: err = %v, want one naming the flag", bad, err)
		}
	}
}
