#!/usr/bin/env bash
# PostgreSQL-mode scaling benchmark (docs/benchmarks.md, section 4):
#   - items synced per second by 1, 2 and 3 replicas sharing one PostgreSQL,
#     against an upstream that answers at once;
#   - GET requests per second against one server, embedded vs PostgreSQL mode
#     (wrk if installed, else a Go load loop);
#   - the latency (p50, p99) of the claim of a batch of 100 with 100,000 and
#     1,000,000 items in the table (CLAIM_SCALE_ROWS=100000,1000000,10000000
#     adds ten million: about 6 GB of disk and several minutes of loading).
# Needs Debian's postgresql (apt-get install postgresql); the benchmark starts
# its own server on a free port in a temporary directory. BENCH_WINDOW sets
# the measuring window of each figure (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
go test -run '^$' -bench 'BenchmarkPG' -benchtime 1x -timeout 60m -v ./internal/replicated/ 2>&1 |
	grep -E '^(Benchmark|goos|goarch|cpu|PASS|FAIL|ok)|bench_(pg|claim)_test.go'
