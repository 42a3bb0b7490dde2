#!/usr/bin/env bash
# cbuff against itself: cbuff-bench built at REV (in a temporary git worktree) and as the working
# tree has it, run alternately, the order flipped every pair; prints each pair's ratio (this
# build's figure over REV's) and their median. How each change to the hot path was judged: the
# host's fast and slow states move both builds alike within a pair, which a ratio against an
# anchor run at another moment does not give.
#
#   Benchmarks/ab.sh REV [--pairs N] [--only FIGURE] [--sizes N] [--metric METRIC] [--items N] [--dir DIR]
#
# FIGURE is one of cbuff-bench's --only names (default transfer), METRIC the metric it prints
# (default transfer_items_per_s; pingpong_rtt_median for ping-pong, where a ratio below 1 is
# faster). --sizes is passed on (one size: `--only messages --sizes 64` compares 64-byte
# messages).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: Benchmarks/ab.sh REV [--pairs N] [--only FIGURE] [--sizes N] [--metric METRIC] [--items N] [--dir DIR]" >&2; exit 64; }
rev=$1; shift
pairs=15 only=transfer metric=transfer_items_per_s items=20000000 dir=/dev/shm/cbuff-ab sizes=()
while [ $# -gt 0 ]; do
    case $1 in
        --pairs) pairs=$2 ;; --only) only=$2 ;; --metric) metric=$2 ;; --items) items=$2 ;; --dir) dir=$2 ;; --sizes) sizes=(--sizes "$2") ;;
        *) echo "ab.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift 2
done
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work" "$dir"' EXIT
git worktree add -q --detach "$work/tree" "$rev"
(cd "$work/tree" && swift build -c release --product cbuff-bench >&2)
swift build -c release --product cbuff-bench >&2
cp "$work/tree/.build/release/cbuff-bench" "$work/before"
cp .build/release/cbuff-bench "$work/after"
figure() { # build -> the metric's value
    "$work/$1" --runs 1 --items "$items" --only "$only" "${sizes[@]}" --dir "$dir" 2>/dev/null |
        sed -n "s/.* metric=$metric value=\([^ ]*\) .*/\1/p" | head -1
}
for pair in $(seq 1 "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then b=$(figure before); a=$(figure after); else a=$(figure after); b=$(figure before); fi
    [ -n "$a" ] && [ -n "$b" ] || { echo "ab.sh: a run printed no $metric" >&2; exit 1; }
    echo "$a $b"
done | awk -v rev="$rev" -v metric="$metric" '
    { r[NR] = $1 / $2; a[NR] = $1; b[NR] = $2; printf "%.2f ", r[NR] }
    function median(x, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
        return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
    }
    END { n = NR; printf "\n%s: this build / %s, median of %d pairs %.2f (medians: %g against %g)\n", metric, rev, n, median(r, n), median(a, n), median(b, n) }'
