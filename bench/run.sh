#!/usr/bin/env bash
# Runs the side-by-side benchmarks (Flyte v1.16.8 vs ours) and summarises
# them with benchstat, one column per implementation.
#
# Unlike `go test -count N`, which runs each benchmark N times in a row, this
# runs the whole suite N times over (rounds), so that a burst of other work on
# a shared machine lands on both implementations alike rather than on all
# runs of one of them.
#
#   COUNT      rounds (default 5)
#   BENCH      -bench regexp (default .)
#   BENCHTIME  -benchtime per benchmark (default 1s)
#   CPU        GOMAXPROCS list passed as -cpu (default 2)
#   OUT        raw output file (default results/latest.txt)
#   WAIT_IDLE  before each round, wait up to this many seconds for a second
#              in which the machine's CPUs are at least 95% idle (default 0:
#              do not wait). For machines shared with other work.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"

COUNT=${COUNT:-5}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
CPU=${CPU:-2}
OUT=${OUT:-results/latest.txt}
WAIT_IDLE=${WAIT_IDLE:-0}

# busy_pct prints the share of CPU time, in percent, that was not idle
# during the next second.
busy_pct() {
	local a b
	read -r -a a </proc/stat
	sleep 1
	read -r -a b </proc/stat
	local busy=0 total=0 i d
	for i in 1 2 3 4 5 6 7 8; do
		d=$((b[i] - a[i]))
		total=$((total + d))
		if [ "$i" -ne 4 ] && [ "$i" -ne 5 ]; then busy=$((busy + d)); fi
	done
	echo $((total > 0 ? busy * 100 / total : 0))
}

wait_idle() {
	local waited=0 busy
	while [ "$waited" -lt "$WAIT_IDLE" ]; do
		busy=$(busy_pct)
		if [ "$busy" -lt 5 ]; then return; fi
		waited=$((waited + 1))
	done
	echo "# machine still busy (${busy}%) after ${WAIT_IDLE}s; running anyway" >&2
}

mkdir -p "$(dirname "$OUT")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/bench.test" .

{
	echo "# nproc: $(nproc)"
	echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $(go version)"
	echo "# engine: $(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C .. diff --quiet HEAD -- internal/cache ':(exclude)internal/cache/*_test.go' 2>/dev/null || echo ' (internal/cache has uncommitted changes)')"
	echo "# rounds=$COUNT benchtime=$BENCHTIME cpu=$CPU bench=$BENCH"
} >"$OUT"
for i in $(seq "$COUNT"); do
	if [ "$WAIT_IDLE" -gt 0 ]; then wait_idle; fi
	echo "# round $i/$COUNT $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT" >&2
	"$bin/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem \
		-test.benchtime "$BENCHTIME" -test.cpu "$CPU" -test.count 1 | tee -a "$OUT"
done

go run golang.org/x/perf/cmd/benchstat@latest -col /impl "$OUT"
