#!/usr/bin/env bash
# A/B of the engine against an older revision of it, Flyte alongside: the
# side-by-side benchmarks of this module built twice, from REV and from the
# working tree, run in interleaved rounds (REV, then this tree, each round),
# so that a burst of other work on a shared machine lands on both alike.
# Each line of OUT is tagged /rev=old or /rev=new, so benchstat can compare
# the revisions (-col /rev) or the implementations (-col /impl).
#
#   REV        the older revision (default main)
#   COUNT      rounds (default 3)
#   BENCH      -bench regexp (default 'GetParallel$|RefreshCycle|MemoryPerItem')
#   BENCHTIME  -benchtime (default 1s; RefreshCycle and MemoryPerItem are
#              better run as 5x and 1x: give them a BENCH of their own)
#   OUT        raw output file (default results/ab.txt)
#
# REV is checked out in a temporary worktree, with this tree's bench/go.mod
# and go.sum (an old bench/go.mod may not match the root module of its day).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"

REV=${REV:-main}
COUNT=${COUNT:-3}
BENCH=${BENCH:-'GetParallel$|RefreshCycle|MemoryPerItem'}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-results/ab.txt}

tmp=$(mktemp -d)
old="$tmp/old"
cleanup() {
	git -C .. worktree remove --force "$old" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
git -C .. worktree add --detach "$old" "$REV" >/dev/null
cp go.mod go.sum "$old/bench/"
(cd "$old/bench" && go test -c -o "$tmp/old.test" .)
go test -c -o "$tmp/new.test" .

mkdir -p "$(dirname "$OUT")"
{
	echo "# nproc: $(nproc)"
	echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $(go version)"
	echo "# old: $REV ($(git -C .. rev-parse --short "$REV")); new: $(git -C .. rev-parse --short HEAD)$(git -C .. diff --quiet HEAD -- internal/cache || echo ' + uncommitted changes')"
	echo "# rounds=$COUNT benchtime=$BENCHTIME bench=$BENCH"
} >"$OUT"
for i in $(seq "$COUNT"); do
	for rev in old new; do
		echo "# round $i/$COUNT rev=$rev $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT" >&2
		"$tmp/$rev.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem \
			-test.benchtime "$BENCHTIME" -test.cpu 2 -test.count 1 |
			sed -E "s|^(Benchmark[^ ]*)-([0-9]+)|\1/rev=$rev-\2|" | tee -a "$OUT"
	done
done
