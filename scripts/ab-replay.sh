#!/bin/bash
# ab-replay.sh A B [N] [SPAN]: run the EU-network replay with two gf
# binaries alternately, N times each (default 3) over SPAN of virtual time
# (default 48h), and print each one's mean user CPU seconds and its runs.
# Alternating spreads the shared machine's drift over both; build A and
# B from clean trees (git worktree), not from a tree others are editing.
set -euo pipefail
A=$1 B=$2 N=${3:-3} SPAN=${4:-48h}
TRACE=philly:$(cd "$(dirname "$0")/.." && pwd)/internal/trace/testdata/philly.csv.gz
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for i in $(seq "$N"); do
	for b in "$A" "$B"; do
		/usr/bin/time -f "$b %U" -o "$OUT/t" "$b" simulate --trace "$TRACE" --network eu --load 0.9 \
			--moonshots 0.3 --span "$SPAN" --policy fifo --no-jobs-csv --out "$OUT/$(basename "$b")" >/dev/null 2>&1
		cat "$OUT/t"
	done
done | awk '{s[$1]+=$2; n[$1]++; v[$1]=v[$1]" "$2} END {for (k in s) printf "%s mean %.2f s user:%s\n", k, s[k]/n[k], v[k]}'
for b in "$A" "$B"; do
	grep -v -e wall_seconds -e events_per_second "$OUT/$(basename "$b")/summary.json" >"$OUT/$(basename "$b").sum"
done
if cmp -s "$OUT/$(basename "$A").sum" "$OUT/$(basename "$B").sum"; then
	echo "summary.json identical (wall-clock fields aside)"
else
	echo "summary.json DIFFERS"
fi
