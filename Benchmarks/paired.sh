#!/usr/bin/env bash
# The throughput and ping-pong ratios from short runs taken in quick alternation: each pair is
# one C reference run and one cbuff-bench run (transfers of ITEMS items, default 20M, well under a
# second each; ping-pong 1M round trips each), the order flipped every pair. This host flips
# between a fast and a slow state within seconds, often in the middle of run.sh's longer rounds;
# two runs a second apart usually share a state, so the median of many per-pair ratios says more
# than any ratio of two long runs.
#
#   Benchmarks/paired.sh [--pairs N] [--items N] [cbuff-bench options, e.g. --dir /dev/shm/x]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=15
items=20000000
while [ $# -gt 0 ]; do
    case $1 in
        --pairs) pairs=$2; shift 2 ;;
        --items) items=$2; shift 2 ;;
        *) break ;;
    esac
done
anchors=${ANCHORS:-../shared/anchors/run-anchors.sh}
[ -f "$anchors" ] || { echo "no anchors at $anchors" >&2; exit 1; }
build=${ANCHOR_BUILD_DIR:-${TMPDIR:-/tmp}/cbuff-anchors-build}
ANCHOR_ONLY="ring boost" bash "$anchors" >/dev/null   # builds the references (and warms up)
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
value() { sed -n "s/.*$1 metric=$2 value=\([^ ]*\).*/\1/p" | head -1; }
pair() { # label cbuff-only metric reference-command...
    local label=$1 only=$2 metric=$3; shift 3
    local reference cbuff
    if [ $((pair % 2)) = 0 ]; then
        reference=$("$@" | value "anchor=[a-z_0-9]*" "$metric")
        cbuff=$(.build/release/cbuff-bench --runs 1 --items "$items" --only "$only" "${extra[@]}" 2>/dev/null | value "bench=cbuff[a-z_0-9]*" "$metric")
    else
        cbuff=$(.build/release/cbuff-bench --runs 1 --items "$items" --only "$only" "${extra[@]}" 2>/dev/null | value "bench=cbuff[a-z_0-9]*" "$metric")
        reference=$("$@" | value "anchor=[a-z_0-9]*" "$metric")
    fi
    echo "$label $pair $cbuff $reference" | tee -a "$out" >&2
}
extra=("$@")
for pair in $(seq 1 "$pairs"); do
    pair "cbuff/boost_spsc" transfer transfer_items_per_s "$build/boost_spsc" transfer "$items" 1
    pair "cbuff/c_ring" transfer transfer_items_per_s "$build/ring" transfer "$items" 1
    pair "cbuff_batch64/c_ring_batch64" batch64 transfer_items_per_s "$build/ring" transfer-batch "$items" 1
    pair "pingpong_median:cbuff/c_ring" pingpong pingpong_rtt_median "$build/ring" pingpong 1000000
done
echo
awk '{ r[$1] = r[$1] " " $3 / $4 }
     END {
         for (label in r) {
             n = split(substr(r[label], 2), x, " ")
             for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
             median = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
             printf "paired %-30s %5.2f  (%d pairs; middle half %.2f to %.2f)\n", label, median, n, x[int(n / 4) + 1], x[int(3 * n / 4) + (n % 4 ? 1 : 0)]
         }
     }' "$out" | sort
