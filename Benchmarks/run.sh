#!/usr/bin/env bash
# Runs the C references (../shared/anchors) and cbuff-bench in one go, on one machine, and
# prints both sets of lines, then the ratios the speed issue tracks. Release build.
#
#   Benchmarks/run.sh [cbuff-bench options, e.g. --runs 5 or --dir /dev/shm/x]
set -euo pipefail
cd "$(dirname "$0")/.."
anchors=${ANCHORS:-../shared/anchors/run-anchors.sh}
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -x "$anchors" ] || [ -f "$anchors" ]; then
    ANCHOR_ONLY="${ANCHOR_ONLY:-phys ring boost}" bash "$anchors" | tee -a "$out"
else
    echo "# no anchors at $anchors: cbuff figures only" >&2
fi
.build/release/cbuff-bench "$@" | tee -a "$out"
value() { awk -v n="$1" -v m="$2" '$1 == n && $2 == "metric=" m { sub("value=", "", $3); print $3 }' "$out" | tail -n 1; }
ratio() { # label numerator-name metric denominator-name metric
    local a b
    a=$(value "$2" "$3"); b=$(value "$4" "$5")
    [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" -v l="$1" 'BEGIN { printf "ratio %-52s %.2f\n", l, a / b }'
    return 0
}
echo
ratio "cbuff / boost_spsc transfer (target >= 1.0)" bench=cbuff transfer_items_per_s anchor=boost_spsc transfer_items_per_s
ratio "cbuff / c_ring transfer" bench=cbuff transfer_items_per_s anchor=c_ring transfer_items_per_s
ratio "cbuff_batch64 / c_ring_batch64 (target >= 0.7)" bench=cbuff_batch64 transfer_items_per_s anchor=c_ring_batch64 transfer_items_per_s
ratio "cbuff / c_ring pingpong median (target <= 1.3)" bench=cbuff pingpong_rtt_median anchor=c_ring pingpong_rtt_median
ratio "cbuff / c_ring pingpong p99 (target <= 1.5)" bench=cbuff pingpong_rtt_p99 anchor=c_ring pingpong_rtt_p99
