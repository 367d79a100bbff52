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
# Stamped into the binaries (cmd/server --version, autorefresh_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: all build run test vet lint lint-spec bench bench-compare bench-http bench-e2e compose-check fuzz clean test-e2e test-helm soak check-faults check-linearizable check-monitoring
all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/server ./cmd/server
	$(GO) build -o $(BIN)/example-upstream ./cmd/example-upstream
	$(GO) build -o $(BIN)/autorefreshctl ./cmd/autorefreshctl

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

# The Helm chart (deploy/helm/autorefresh) linted, rendered and decoded with
# the Helm SDK, in a module of its own so the server does not depend on Helm
# (the root's ./... skips it). Not part of make test: compiling Helm takes
# minutes on a cold build cache; .ci/run calls it.
test-helm:
	cd deploy/helm && $(GO) vet ./... && $(GO) test -count=1 ./...

# staticcheck is pinned in tools/go.mod so the service does not depend on it.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd tools && $(GO) build -o ../$(BIN)/staticcheck honnef.co/go/tools/cmd/staticcheck
	$(BIN)/staticcheck ./...

# The contract against Redocly's recommended rules (1.34.x does not install;
# 2.77.0 does). The few places it skips are listed, with why, in
# .redocly.lint-ignore.yaml.
lint-spec:
	npx --yes @redocly/cli@2.77.0 lint api/openapi.yaml

# Engine benchmarks, side by side with Flyte's cache v1.16.8, in their own
# module so the service does not depend on Flyte (see docs/benchmarks.md).
bench:
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count 5 .

# The same in interleaved rounds, summarised with benchstat: what the tables
# in docs/benchmarks.md come from.
bench-compare:
	COUNT=6 BENCHTIME=1s WAIT_IDLE=60 ./bench/run.sh

# HTTP load test of the real server against a bare net/http handler, with
# wrk (see docs/benchmarks.md). Knobs: DURATION ROUNDS STORAGE=disk|memory PIN=1.
bench-http:
	bash scripts/bench-http.sh

# End-to-end figures of the real binary in each storage mode (memory,
# durable, postgres): single and bulk creates over HTTP, sync throughput
# against an upstream that answers at once, RSS per item and restart-to-ready
# (see docs/benchmarks.md, section 5). Minutes, not part of make test; the
# postgres mode needs Debian's postgresql. More flags: BENCH_E2E_FLAGS, e.g.
# BENCH_E2E_FLAGS='--modes durable --window 20s --rss-items 1000000'.
BENCH_E2E_FLAGS ?=
bench-e2e: build
	$(GO) run ./cmd/bench-e2e --server $(BIN)/server $(BENCH_E2E_FLAGS)

# docker-compose.yml against the Compose spec without a container engine,
# plus the Go checks of the deploy files.
compose-check:
	$(GO) run github.com/compose-spec/compose-go/v2/cmd@v2.16.2 docker-compose.yml >/dev/null
	$(GO) test -count=1 ./deploy/...

# The monitoring kit (deploy/monitoring): the alerting rules are valid and
# their unit tests pass. promtool is Debian's prometheus package.
check-monitoring:
	promtool check rules deploy/monitoring/alerts.yaml
	cd deploy/monitoring && promtool test rules alerts_test.yaml

# A short run of every fuzz target (go test -fuzz takes one at a time).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzHandler -fuzztime $(FUZZTIME) ./internal/handlers/
	$(GO) test -run '^$$' -fuzz FuzzItemJSON -fuzztime $(FUZZTIME) ./internal/handlers/
	$(GO) test -run '^$$' -fuzz FuzzCheckJSON -fuzztime $(FUZZTIME) ./internal/handlers/
	$(GO) test -run '^$$' -fuzz FuzzBatchRuleAgreesWithSpec -fuzztime $(FUZZTIME) ./internal/handlers/
	$(GO) test -run '^$$' -fuzz FuzzParseFile -fuzztime $(FUZZTIME) ./internal/autorefresh/
	$(GO) test -run '^$$' -fuzz FuzzValidIDIsTheSpecPattern -fuzztime $(FUZZTIME) ./internal/autorefresh/
	$(GO) test -run '^$$' -fuzz FuzzParseReply -fuzztime $(FUZZTIME) ./internal/syncers/
	$(GO) test -run '^$$' -fuzz FuzzCheckURL -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/egress/

# Storage fault injection over HTTP (write errors, fsync errors, and a real
# full disk on a small tmpfs, skipped where mount is not permitted): make test
# runs one round of each, this runs FAULT_ROUNDS on a bigger tmpfs; then the
# PostgreSQL faults (connections killed mid-batch, statement timeouts, the
# database restarted during write-back), each PG_FAULT_COUNT times.
FAULT_ROUNDS ?= 50
PG_FAULT_COUNT ?= 5
check-faults:
	AUTOREFRESH_FAULT_ROUNDS=$(FAULT_ROUNDS) $(GO) test -race -count=1 -v -run '^TestFault' ./internal/store/
	$(GO) test -race -count=$(PG_FAULT_COUNT) -v -run '^TestFault' ./internal/replicated/

# Load-and-fault soak of the real server: minutes, not part of make test.
# Writes its report into docs/soak.md (see there). More flags: SOAK_FLAGS.
SOAK_DURATION ?= 3m
SOAK_FLAGS ?=
soak: build
	$(GO) run ./cmd/soak --server $(BIN)/server --duration $(SOAK_DURATION) --report docs/soak.md $(SOAK_FLAGS)

# The linearizability and event-replay checks of internal/robustness, longer
# than the bounded run in make test: more phases (restarts), clients and
# calls. Prints the histories and operations checked per storage mode; a
# failing history is drawn into an HTML file under $(LIN_OUT), whose path is
# printed. See docs/robustness.md.
LIN_PHASES ?= 12
LIN_CLIENTS ?= 6
LIN_OPS ?= 200
LIN_CACHES ?= 3
LIN_ITEMS ?= 6
LIN_OUT ?= $(CURDIR)/$(BIN)/robustness
check-linearizable:
	ROBUSTNESS_PHASES=$(LIN_PHASES) ROBUSTNESS_CLIENTS=$(LIN_CLIENTS) ROBUSTNESS_OPS=$(LIN_OPS) \
	ROBUSTNESS_CACHES=$(LIN_CACHES) ROBUSTNESS_ITEMS=$(LIN_ITEMS) ROBUSTNESS_OUT=$(LIN_OUT) \
	$(GO) test -race -count=1 -timeout 30m -v -run 'TestRobustness|TestModel' ./internal/robustness/

clean:
	rm -rf $(BIN)
