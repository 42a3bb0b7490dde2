#!/usr/bin/env bash
# Runs the C references (../shared/anchors) and cbuff-bench in alternation, ROUNDS times (each
# round: the anchors, then one cbuff-bench run), and prints every line, then for each tracked
# ratio the median of the per-round ratios with its range, and the ratio of the best figures
# (fastest throughput, lowest latency) over all rounds. The host flips between a fast and a slow
# state within seconds, so a ratio is only meaningful between figures taken in the same state:
# pairing by round and taking the median keeps one flip from deciding the result, and a flip
# only ever slows a figure down, so best against best compares the fast state with itself.
#
#   Benchmarks/run.sh [--rounds N] [cbuff-bench options, e.g. --dir /dev/shm/x]
set -euo pipefail
cd "$(dirname "$0")/.."
anchors=${ANCHORS:-../shared/anchors/run-anchors.sh}
rounds=5
if [ "${1:-}" = --rounds ]; then rounds=$2; shift 2; fi
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$rounds"); do
    echo "# round $round of $rounds" >&2
    if [ -f "$anchors" ]; then
        ANCHOR_ONLY="${ANCHOR_ONLY:-ring boost}" bash "$anchors" | sed "s/^/round=$round /" | tee -a "$out"
    else
        echo "# no anchors at $anchors: cbuff figures only" >&2
    fi
    .build/release/cbuff-bench --runs 1 "$@" | sed "s/^/round=$round /" | tee -a "$out"
done
ratio() { # label numerator-name metric denominator-name metric
    awk -v l="$1" -v a="$2" -v am="metric=$3" -v b="$4" -v bm="metric=$5" '
        function value(field) { sub("value=", "", field); return field + 0 }
        function better(x, y) { return latency ? x < y : x > y }
        BEGIN { latency = am ~ /rtt/ }
        $2 == a && $3 == am { num[$1] = value($4); if (!bestNum || better(num[$1], bestNum)) bestNum = num[$1] }
        $2 == b && $3 == bm { den[$1] = value($4); if (!bestDen || better(den[$1], bestDen)) bestDen = den[$1] }
        END {
            n = 0
            for (r in num) if (r in den && den[r] > 0) r_[++n] = num[r] / den[r]
            if (n == 0) exit
            for (i = 2; i <= n; i++) for (j = i; j > 1 && r_[j-1] > r_[j]; j--) { t = r_[j]; r_[j] = r_[j-1]; r_[j-1] = t }
            median = n % 2 ? r_[(n + 1) / 2] : (r_[n / 2] + r_[n / 2 + 1]) / 2
            printf "ratio %-50s %5.2f  (%d rounds, %.2f to %.2f; best vs best %.2f)\n", l, median, n, r_[1], r_[n], bestNum / bestDen
        }' "$out"
}
echo
ratio "cbuff / boost_spsc transfer (target >= 1.0)" bench=cbuff transfer_items_per_s anchor=boost_spsc transfer_items_per_s
ratio "cbuff / c_ring transfer" bench=cbuff transfer_items_per_s anchor=c_ring transfer_items_per_s
ratio "cbuff_batch64 / c_ring_batch64 (target >= 0.7)" bench=cbuff_batch64 transfer_items_per_s anchor=c_ring_batch64 transfer_items_per_s
ratio "cbuff / c_ring pingpong median (target <= 1.3)" bench=cbuff pingpong_rtt_median anchor=c_ring pingpong_rtt_median
ratio "cbuff / c_ring pingpong p99 (target <= 1.5)" bench=cbuff pingpong_rtt_p99 anchor=c_ring pingpong_rtt_p99
ratio "cbuff_overwrite / c_ring transfer" bench=cbuff_overwrite transfer_items_per_s anchor=c_ring transfer_items_per_s
