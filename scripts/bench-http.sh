#!/usr/bin/env bash
# HTTP benchmark of the real autorefresh server, side by side with a bare
# net/http handler (scripts/bench-http/bare) measured in the same run.
#
# A benchmark, not a test: it prints numbers and exits 0 whatever they are
# (non-zero only if something could not be set up). Everything listens on
# 127.0.0.1 and every process it starts is stopped on exit.
#
# Scenarios, each against the server and against the bare handler:
#   GET       /v1/caches/bench/items/item1   an existing item, the server
#                                            holding little else
#   POST      /v1/caches/benchpost/items     a new item with a unique id each
#                                            time
#   GET-full  as GET, after PRELOAD more items were put in the cache: the
#             same request with a heap of items for the GC to mark, as a
#             cache in use has
# Every round starts from the same state: the POST runs write to a cache of
# their own, which is deleted and registered again after each round, so
# that no round's GET runs against the items earlier rounds created. The
# GET-full rounds come last, after the preload.
# The server runs as shipped: request validation against the OpenAPI spec,
# Prometheus metrics and one info-level JSON access-log line per request
# (sent to /dev/null, or to $SERVER_LOG).
#
# Settings (environment):
#   DURATION=10s     length of each measured run
#   WARMUP=2s        un-measured run before each measured one
#   THREADS=1        wrk threads
#   CONNECTIONS=32   wrk connections
#   ROUNDS=3         repetitions; the table shows the median round by req/s
#   PIN=0            1: servers on CPU 0, wrk on CPU 1 (taskset), so the
#                    load generator does not take CPU from the server
#   STORAGE=disk     disk: the server as shipped, items kept in a fresh
#                    --data-dir under the work directory (creates wait for
#                    the journal's group commit); memory: --in-memory, to
#                    measure the HTTP layer alone
#   SERVER_LOG=/dev/null   where the server's stdout (its logs) goes
#   OUT=             also write the report (markdown) to this file
#   NOISE_PCT=15     a run during which other processes took more than this
#   RETRIES=2        share of the machine's CPU is run again, up to RETRIES
#                    times (the machine may be shared)
#   KEEP=0           1: keep the work directory (wrk outputs, logs)
#   PRELOAD=100000   items put in the cache before the GET-full rounds (the
#                    default cache size); 0 skips GET-full
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-0}
STORAGE=${STORAGE:-disk}
SERVER_LOG=${SERVER_LOG:-/dev/null}
OUT=${OUT:-}
KEEP=${KEEP:-0}
NOISE_PCT=${NOISE_PCT:-15}
RETRIES=${RETRIES:-2}
PRELOAD=${PRELOAD:-100000}
# Issue 17's goals, as shares of the bare handler's requests/s: a GET of an
# item (GET and GET-full) and a create (POST).
GOAL_GET_PCT=75
GOAL_POST_PCT=50
HERE=scripts/bench-http

log() { printf '%s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
	log "wrk not found; installing Debian's package"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
for tool in curl go; do
	command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done
case $STORAGE in
disk | memory) ;;
*) log "STORAGE must be disk or memory"; exit 1 ;;
esac
if [ "$PIN" = 1 ] && { ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; }; then
	log "PIN=1 needs taskset and at least 2 CPUs"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The real binaries, built from the work tree as `make build` builds them.
log "building server, example upstream and bare handler"
go build -o "$work/server" ./cmd/server
go build -o "$work/example-upstream" ./cmd/example-upstream
go build -o "$work/bare" ./$HERE/bare

server_cpu=() wrk_cpu=()
if [ "$PIN" = 1 ]; then
	server_cpu=(taskset -c 0)
	wrk_cpu=(taskset -c 1)
fi

mapfile -t ports < <("$work/bare" -free-ports 3)
server_addr=127.0.0.1:${ports[0]}
upstream_addr=127.0.0.1:${ports[1]}
bare_addr=127.0.0.1:${ports[2]}

"$work/example-upstream" --addr "$upstream_addr" >"$work/upstream.log" 2>&1 &
pids+=("$!")
# The webhook is on loopback, which the server refuses without the flag.
# Storage starts empty every run, in the work directory, never in the repo.
if [ "$STORAGE" = memory ]; then storage=(--in-memory); else storage=(--data-dir "$work/data"); fi
"${server_cpu[@]}" "$work/server" --addr "$server_addr" --log-level info --allow-private-webhooks "${storage[@]}" \
	>"$SERVER_LOG" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
"${server_cpu[@]}" "$work/bare" -addr "$bare_addr" >/dev/null 2>"$work/bare.err" &
bare_pid=$!
pids+=("$bare_pid")

wait_up() { # url
	local i
	for i in $(seq 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	log "not up after 10s: $1"
	cat "$work"/*.err "$work/upstream.log" >&2 || true
	exit 1
}
wait_up "http://$upstream_addr/healthz"
wait_up "http://$server_addr/readyz"
wait_up "http://$bare_addr/"

# call METHOD PATH BODY WANT: one setup request to the server.
call() {
	local code
	local data=()
	[ -z "$3" ] || data=(-H 'Content-Type: application/json' --data "$3")
	code=$(curl -sS -o "$work/last.json" -w '%{http_code}' -X "$1" "${data[@]}" "http://$server_addr$2")
	if [ "$code" != "$4" ]; then
		log "$1 $2: status $code, want $4: $(cat "$work/last.json")"
		exit 1
	fi
}
# No sync on create and an hourly resync: no webhook call during the runs.
# Size well above the items the POST runs create, so nothing is evicted.
call PUT /v1/caches/bench "{\"webhook\":{\"url\":\"http://$upstream_addr/sync\"},\"resyncPeriod\":\"1h\",\"syncOnCreate\":false,\"size\":5000000}" 201
call POST /v1/caches/bench/items '{"id":"item1","data":{"status":"Not-started","attempt":0}}' 201
call GET /v1/caches/bench/items/item1 '' 200
post_cache="{\"webhook\":{\"url\":\"http://$upstream_addr/sync\"},\"resyncPeriod\":\"1h\",\"syncOnCreate\":false,\"size\":5000000}"
call PUT /v1/caches/benchpost "$post_cache" 201

get_path=/v1/caches/bench/items/item1
post_path=/v1/caches/benchpost/items

# CPU accounting, in clock ticks: of the whole machine (busy, all CPUs) and
# of one process (user + system).
hz=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# bench ROUND SCENARIO TARGET URL SCRIPT: warm up, then measure. Appends to
# results.tsv: round scenario target rps p50_us p99_us status_errors
# socket_errors requests cpu_us_per_request other_pct, where cpu_us is the
# target process's CPU time per request and other_pct the share of the
# machine's CPU that neither the target nor wrk used during the run (other
# work on the machine; loopback interrupt work not charged to a process
# also lands there). A run with other_pct above NOISE_PCT is run again, up
# to RETRIES times.
results=$work/results.tsv
: >"$results"
bench() {
	local round=$1 scenario=$2 target=$3 url=$4 script=$5 pid out try
	if [ "$target" = bare ]; then pid=$bare_pid; else pid=$server_pid; fi
	"${wrk_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/$script" "$url" -- "w$round$scenario$target" \
		>"$work/warmup-$round-$scenario-$target.txt" 2>&1
	out=$work/wrk-$round-$scenario-$target.txt
	local line requests rps p50_us p99_us status_errors socket_errors
	local b0 p0 t0 b1 p1 t1 wrk_user wrk_sys cpu_us other_pct
	for try in $(seq 0 "$RETRIES"); do
		b0=$(busy_ticks) p0=$(proc_ticks "$pid") t0=$(date +%s%N)
		{
			TIMEFORMAT='%U %S'
			time "${wrk_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/$script" "$url" \
				-- "r$round$scenario$target$try" >"$out" 2>&1
		} 2>"$work/time.txt"
		b1=$(busy_ticks) p1=$(proc_ticks "$pid") t1=$(date +%s%N)
		read -r wrk_user wrk_sys <"$work/time.txt"
		line=$(grep "^RESULT"$'\t' "$out") || { log "wrk failed:"; cat "$out" >&2; exit 1; }
		IFS=$'\t' read -r _ requests _ rps p50_us p99_us status_errors socket_errors <<<"$line"
		cpu_us=$(awk -v p=$((p1 - p0)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.1f", n ? 1e6 * p / hz / n : 0 }')
		other_pct=$(awk -v b=$((b1 - b0)) -v p=$((p1 - p0)) -v hz="$hz" -v w="$wrk_user $wrk_sys" -v ns=$((t1 - t0)) -v cpus="$(nproc)" \
			'BEGIN { split(w, x, " "); o = (b - p) / hz - x[1] - x[2]; printf "%.0f", o < 0 ? 0 : 100 * o / (ns / 1e9 * cpus) }')
		if [ "$other_pct" -le "$NOISE_PCT" ] || [ "$try" -ge "$RETRIES" ]; then
			break
		fi
		log "round $round $scenario $target: ${other_pct}% of the CPU went to other work; waiting 10s and running it again"
		sleep 10
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$target" "$rps" "$p50_us" "$p99_us" \
		"$status_errors" "$socket_errors" "$requests" "$cpu_us" "$other_pct" >>"$results"
	log "$(printf 'round %s  %-8s %-11s %8.0f req/s  p50 %6sus  p99 %6sus  %5s us CPU/req  other %3s%%  non-2xx %s  socket errors %s' \
		"$round" "$scenario" "$target" "$rps" "$p50_us" "$p99_us" "$cpu_us" "$other_pct" "$status_errors" "$socket_errors")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the machine is before we start: other load slows both targets,
# and not evenly.
cpu_busy() { # percent of all CPUs busy over one second
	local a b
	read -r -a a < <(head -1 /proc/stat)
	sleep 1
	read -r -a b < <(head -1 /proc/stat)
	local total=0 i
	for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
	local idle=$((b[4] - a[4] + b[5] - a[5]))
	echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
busy_before=$(cpu_busy)
if [ "$busy_before" -gt 20 ]; then
	log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
fi
log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), $ROUNDS round(s), PIN=$PIN"
# size CACHE: the number of items the server's cache holds.
size() {
	curl -fsS "http://$server_addr/v1/caches/$1" | sed -n 's/.*"stats":{"size":\([0-9]*\).*/\1/p'
}
# order ROUND: alternate which target goes first, so that neither always
# runs on a machine warmed (or heated) by the other.
order() { if [ $(($1 % 2)) -eq 1 ]; then echo "bare autorefresh"; else echo "autorefresh bare"; fi; }
base() { if [ "$1" = bare ]; then echo "http://$bare_addr"; else echo "http://$server_addr"; fi; }
created=0
for round in $(seq "$ROUNDS"); do
	for target in $(order "$round"); do
		bench "$round" GET "$target" "$(base "$target")$get_path" get.lua
	done
	for target in $(order "$round"); do
		bench "$round" POST "$target" "$(base "$target")$post_path" post.lua
	done
	# The POST runs must have created items, not hit existing ids. Then the
	# next round starts without them.
	created=$((created + $(size benchpost)))
	call DELETE /v1/caches/benchpost '' 204
	call PUT /v1/caches/benchpost "$post_cache" 201
done

loaded=""
if [ "$PRELOAD" -gt 0 ]; then
	log "preloading $PRELOAD items into cache bench"
	wrk -t1 -c"$CONNECTIONS" -d120s -s "$HERE/preload.lua" "http://$server_addr/v1/caches/bench/items" -- "$PRELOAD" \
		>"$work/preload.txt" 2>&1
	grep -q "^PRELOADED"$'\t'"[0-9]*"$'\t'"0$" "$work/preload.txt" || { log "preload failed:"; cat "$work/preload.txt" >&2; exit 1; }
	loaded=$(size bench)
	for round in $(seq "$ROUNDS"); do
		for target in $(order "$round"); do
			bench "$round" GET-full "$target" "$(base "$target")$get_path" get.lua
		done
	done
fi

server_errors=$(grep -c . "$work/server.err" || true)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
server_rss=$(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$server_pid/status" 2>/dev/null || true)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
report() {
	echo "Code: $(git describe --always --dirty 2>/dev/null || echo unknown), built by the script from the work tree."
	echo
	echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr); $(go version | cut -d' ' -f3-); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo
	echo "Load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, after a $WARMUP warm-up, $ROUNDS round(s);" \
		"$([ "$PIN" = 1 ] && echo 'servers pinned to CPU 0, wrk to CPU 1' || echo 'nothing pinned: wrk and the server share both CPUs');" \
		"server storage: $([ "$STORAGE" = memory ] && echo 'in memory (--in-memory)' || echo "on disk (--data-dir on $(df -P "$work" | awk 'NR == 2 { print $1 }'))")."
	echo
	echo "| scenario | target | req/s | p50 | p99 | vs bare | CPU/request |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
	# Per scenario and target, the median round by req/s; "vs bare" divides
	# the two medians. Below the table, the server/bare ratio of each round
	# (the two ran back to back) and their median, which is the headline.
	sort -t$'\t' -k2,2 -k3,3 -k4,4g "$results" | awk -F'\t' -v goal_get="$GOAL_GET_PCT" -v goal_post="$GOAL_POST_PCT" '
		function lat(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%d µs", us) }
		function median(list,   a, m, i, j, t) {
			m = split(list, a, " ")
			for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		}
		{ key = $2 SUBSEP $3; n[key]++; row[key, n[key]] = $0; rate[$1, $2, $3] = $4; rounds[$1] = 1 }
		END {
			split("GET POST GET-full", scen, " "); split("bare autorefresh", tgt, " ")
			for (i = 1; i <= 3; i++) for (j = 1; j <= 2; j++) {
				key = scen[i] SUBSEP tgt[j]
				if (!(key in n)) continue
				split(row[key, int((n[key] + 1) / 2)], f, "\t")
				rps[key] = f[4]
				name = tgt[j] == "bare" ? "bare net/http handler" : "autorefresh server"
				ratio = tgt[j] == "bare" ? "100%" : sprintf("%.0f%%", 100 * f[4] / rps[scen[i] SUBSEP "bare"])
				errs = (f[7] + f[8] > 0) ? sprintf(" (%d non-2xx, %d socket errors)", f[7], f[8]) : ""
				printf "| %s | %s%s | %.0f | %s | %s | %s | %.1f µs |\n", scen[i], name, errs, f[4], lat(f[5]), lat(f[6]), ratio, f[10]
			}
			print ""
			for (i = 1; i <= 3; i++) {
				if (!((scen[i] SUBSEP "bare") in n)) continue
				list = ""; shown = ""
				for (r = 1; (r in rounds); r++) {
					x = 100 * rate[r, scen[i], "autorefresh"] / rate[r, scen[i], "bare"]
					list = list " " x; shown = shown (shown == "" ? "" : ", ") sprintf("%.1f%%", x)
				}
				m = median(list)
				goal = scen[i] == "POST" ? goal_post : goal_get
				verdict = sprintf(" (goal: at least %d%%: %s)", goal, (m >= goal ? "met" : "NOT met"))
				printf "%s server/bare by round: %s; median **%.1f%%**%s\n\n", scen[i], shown, m, verdict
			}
		}'
	echo "CPU/request is the CPU time (user + system) of the target process alone divided by the requests served:" \
		"unlike req/s it hardly depends on what else runs on the machine. \"other\" below is the share of the machine's CPU" \
		"that neither the target nor wrk used during the run (other processes, and loopback interrupt work charged to no process)."
	echo
	echo "All rounds:"
	echo
	echo '```'
	awk -F'\t' '{ printf "round %s  %-8s %-11s %8.0f req/s  p50 %5d µs  p99 %6d µs  %5.1f µs CPU/req  other %2d%%\n", $1, $2, $3, $4, $5, $6, $10, $11 }' "$results"
	echo '```'
	echo
	echo "Items created by the POST runs: $created (each round's were deleted after it);" \
		"$([ -n "$loaded" ] && echo "items in the cache during GET-full: $loaded;" || echo "GET-full not run (PRELOAD=0);")" \
		"server peak RSS ${server_rss:-?}; server stderr lines: $server_errors." \
		"CPU busy just before the runs: ${busy_before}%; load average before: $load_before, after: $load_after."
}
if [ -n "$OUT" ]; then report | tee "$OUT"; else report; fi
