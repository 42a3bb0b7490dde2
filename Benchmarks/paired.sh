#!/usr/bin/env bash
# The throughput and ping-pong ratios from short runs taken in quick alternation: each pair is
# one C reference run and one cbuff-bench run (transfers of ITEMS items, default 20M, well under a
# second each; ping-pong 1M round trips each), the order flipped every pair. This host flips
# between a fast and a slow state within seconds, often in the middle of run.sh's longer rounds;
# two runs a second apart usually share a state, so the median of many per-pair ratios says more
# than any ratio of two long runs.
#
# With --payloads, each pair also measures the payloads of format version 3: 64-byte messages
# against cbuff's own 64-byte slots and against iceoryx (one sample per send), and items of
# 4 KiB, 64 KiB and 1 MiB filled and read in place against iceoryx's samples filled in place
# (the 1 MiB ring with 8 slots, so that it fits the L3 cache, as iceoryx's few chunks do; see
# the README's size/length curve). iceoryx needs its RouDi daemon: the script starts one with
# the anchors' configuration (built by `ANCHOR_ONLY="iceoryx sizes" run-anchors.sh`, run once
# first) and stops it at the end.
#
#   Benchmarks/paired.sh [--pairs N] [--items N] [--payloads] [cbuff-bench options, e.g. --dir /dev/shm/x]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=15
items=20000000
payloads=0
while [ $# -gt 0 ]; do
    case $1 in
        --pairs) pairs=$2; shift 2 ;;
        --items) items=$2; shift 2 ;;
        --payloads) payloads=1; shift ;;
        *) break ;;
    esac
done
anchors=${ANCHORS:-../shared/anchors/run-anchors.sh}
[ -f "$anchors" ] || { echo "no anchors at $anchors" >&2; exit 1; }
build=${ANCHOR_BUILD_DIR:-${TMPDIR:-/tmp}/cbuff-anchors-build}
ANCHOR_ONLY="ring boost" bash "$anchors" >/dev/null   # builds the references (and warms up)
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
roudi=
trap 'rm -f "$out" "$out.log" "$out.roudi"; [ -z "$roudi" ] || { kill "$roudi"; wait "$roudi"; } 2>/dev/null' EXIT
if [ $payloads = 1 ]; then
    source Benchmarks/roudi.sh
    start_roudi "$anchors" "$build" "$out.roudi"
fi
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
# Two commands, A then B or B then A: label pattern-A command-A pattern-B command-B (commands
# as strings, split as the shell splits words); records A's value over B's.
pair_of() {
    local label=$1 a_pattern=$2 a_command=$3 b_pattern=$4 b_command=$5 a b
    if [ $((pair % 2)) = 0 ]; then
        b=$($b_command 2>>"$out.log" | value "$b_pattern" transfer_items_per_s)
        a=$($a_command 2>>"$out.log" | value "$a_pattern" transfer_items_per_s)
    else
        a=$($a_command 2>>"$out.log" | value "$a_pattern" transfer_items_per_s)
        b=$($b_command 2>>"$out.log" | value "$b_pattern" transfer_items_per_s)
    fi
    if [ -z "$a" ] || [ -z "$b" ]; then echo "$label: a run printed no figure; its errors:" >&2; cat "$out.log" >&2; exit 1; fi
    echo "$label $pair $a $b" | tee -a "$out" >&2
}
extra=("$@")
bench=".build/release/cbuff-bench --runs 1 ${extra[*]}"
for pair in $(seq 1 "$pairs"); do
    pair "cbuff/boost_spsc" transfer transfer_items_per_s "$build/boost_spsc" transfer "$items" 1
    pair "cbuff/c_ring" transfer transfer_items_per_s "$build/ring" transfer "$items" 1
    pair "cbuff_commit64/boost_spsc" commit64 transfer_items_per_s "$build/boost_spsc" transfer "$items" 1
    pair "cbuff_batch64/c_ring_batch64" batch64 transfer_items_per_s "$build/ring" transfer-batch "$items" 1
    pair "pingpong_median:cbuff/c_ring" pingpong pingpong_rtt_median "$build/ring" pingpong 1000000
    [ $payloads = 1 ] || continue
    pair_of "message64B/cbuff_slot64B" "bench=cbuff_message64B" "$bench --only messages --sizes 64 --items $items" \
        "bench=cbuff_item64B" "$bench --only sizes --sizes 64 --items $items"
    pair_of "message64B/iceoryx" "bench=cbuff_message64B" "$bench --only messages --sizes 64 --items $items" \
        "anchor=iceoryx" "$build/iceoryx transfer 1000000 1"
    for spec in "4096 1000000 200000" "65536 150000 60000" "1048576 10000 6000 8"; do
        set -- $spec
        pair_of "filled${1}B${4:+_slots$4}/iceoryx" "bench=cbuff_item${1}B_filled[a-z_0-9]*" "$bench --only filled --sizes $1 --items $2 ${4:+--length $4}" \
            "anchor=iceoryx_item[A-Za-z0-9]*" "$build/iceoryx transfer-size $1 $3 1"
    done
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
