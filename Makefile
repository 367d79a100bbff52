# autorefresh build targets.
#   make run   builds and starts the server on 127.0.0.1:8080 with the example
#              upstream on 127.0.0.1:9000 (Ctrl-C stops both)
#   make test  go vet + every test under the race detector
# Both work on a fresh Debian machine with only Go installed.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

ADDR ?= 127.0.0.1:8080
UPSTREAM_ADDR ?= 127.0.0.1:9000
BIN := bin

.PHONY: all build run test vet lint bench bench-http fuzz clean test-e2e
all: build

build:
	$(GO) build -o $(BIN)/server ./cmd/server
	$(GO) build -o $(BIN)/example-upstream ./cmd/example-upstream

# The upstream runs in the background and is stopped with the server. The
# server may call loopback webhooks only (not every private network).
run: build
	@$(BIN)/example-upstream --addr $(UPSTREAM_ADDR) > $(BIN)/example-upstream.log 2>&1 & up=$$!; \
	trap 'kill $$up 2>/dev/null' EXIT INT TERM; \
	echo "example upstream on http://$(UPSTREAM_ADDR)/sync (log: $(BIN)/example-upstream.log)"; \
	$(BIN)/server --addr $(ADDR) --allow-webhook-cidrs 127.0.0.0/8

test: vet
	$(GO) test -race -count=1 ./...

# The dashboard in a real browser: Debian's Chromium driven by playwright-core,
# both installed by .ci/install-e2e if missing. Screenshots go to e2e/out/.
test-e2e: build
	bash .ci/install-e2e
	cd e2e && node --test --test-reporter=spec dashboard.test.mjs

vet:
	$(GO) vet ./...

# staticcheck is pinned in tools/go.mod so the service does not depend on it.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd tools && $(GO) build -o ../$(BIN)/staticcheck honnef.co/go/tools/cmd/staticcheck
	$(BIN)/staticcheck ./...

# Engine benchmarks, side by side with Flyte's cache (see docs/benchmarks.md).
bench:
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count 5 .

# HTTP load test of the real server against a bare net/http handler.
bench-http: build
	bash scripts/bench-http.sh

# A short run of every fuzz target (go test -fuzz takes one at a time).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzHandler -fuzztime $(FUZZTIME) ./internal/handlers/
	$(GO) test -run '^$$' -fuzz FuzzParseFile -fuzztime $(FUZZTIME) ./internal/registry/
	$(GO) test -run '^$$' -fuzz FuzzParseReply -fuzztime $(FUZZTIME) ./internal/syncers/
	$(GO) test -run '^$$' -fuzz FuzzCheckURL -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/egress/

clean:
	rm -rf $(BIN)
