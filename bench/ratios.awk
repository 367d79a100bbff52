# Per-round flyte ÷ ours ratios of an ab.sh (or run.sh) output file, per
# benchmark and revision, for ns/op, cpu-ns/op and B/item, then their
# median and range. A ratio above 1 means ours is faster (or smaller).
#
#   awk -f bench/ratios.awk bench/results/ab.txt
/^# round / { round = $3 }
/^Benchmark/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	rev = "-"
	if (match(name, /\/rev=[a-z]+/)) {
		rev = substr(name, RSTART + 5, RLENGTH - 5)
		name = substr(name, 1, RSTART - 1) substr(name, RSTART + RLENGTH)
	}
	impl = name
	sub(/.*\/impl=/, "", impl)
	sub(/\/impl=[a-z]+/, "", name)
	for (i = 3; i < NF; i += 2) {
		unit = $(i + 1)
		if (unit == "ns/op" || unit == "cpu-ns/op" || unit == "B/item")
			v[name, rev, round, impl, unit] = $i
	}
	key = name SUBSEP rev SUBSEP round
	if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
}
END {
	split("ns/op cpu-ns/op B/item", units, " ")
	for (k = 1; k <= nk; k++) {
		split(keys[k], p, SUBSEP)
		line = sprintf("%-28s rev=%-3s round %-4s", p[1], p[2], p[3])
		for (u = 1; u <= 3; u++) {
			f = v[p[1], p[2], p[3], "flyte", units[u]]
			o = v[p[1], p[2], p[3], "autorefresh", units[u]]
			if (f == "" || o == "" || o == 0) continue
			r = f / o
			line = line sprintf("  %s %s/%s = %.2fx", units[u], f, o, r)
			g = p[1] SUBSEP p[2] SUBSEP units[u]
			if (!(g in n)) order[++ng] = g
			all[g, ++n[g]] = r
		}
		print line
	}
	print ""
	for (j = 1; j <= ng; j++) {
		g = order[j]
		m = n[g]
		for (a = 1; a <= m; a++) s[a] = all[g, a]
		for (a = 2; a <= m; a++) { x = s[a]; for (b = a - 1; b >= 1 && s[b] > x; b--) s[b + 1] = s[b]; s[b + 1] = x }
		med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
		split(g, p, SUBSEP)
		printf "%-28s rev=%-3s %-10s flyte/ours median %.2fx (rounds %.2f-%.2f, n=%d)\n", p[1], p[2], p[3], med, s[1], s[m], m
	}
}
