#!/usr/bin/env bash
# What one follower of a 1,000 items/s stream costs, counted by the kernel (`perf stat`
# task-clock and context switches over 5 s: nanosecond resolution, where idle-cpu.sh's clock
# ticks are 10 ms), for several follower kinds and builds, alternated round by round so that
# the host's fast and slow states fall on all of them alike.
#
#   Benchmarks/follower-cost.sh [--rounds N] [--rate N] SPEC...
#
# SPEC is BIN_DIR:MODE, MODE one of cbuff-bench's follower modes (pop, events, events-here,
# messages, each with @MS for a coalescing delay), e.g.
#   Benchmarks/follower-cost.sh --rounds 3 .build/release:events .build/release:events-here@5 /tmp/old/.build/release:events
# Prints one line per run: `SPEC rROUND percent=P switches_per_s=S` (P: share of one core).
set -euo pipefail
rounds=3 rate=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--rate N] BIN_DIR:MODE..." >&2; exit 64; }
command -v perf >/dev/null || { echo "follower-cost: needs perf (linux-perf)" >&2; exit 69; }
first=${1%%:*}
base=/tmp; [ -w /dev/shm ] && base=/dev/shm
work=$(mktemp -d "$base/cbuff-follower-XXXXXX")
writer=
cleanup() { [ -n "$writer" ] && kill "$writer" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$first/cbuff" --dir "$work" create t --item-size 8 --length 4096 >/dev/null
"$first/cbuff-bench" paced-writer "$work" t "$rate" >/dev/null & writer=$!
for round in $(seq "$rounds"); do
    for spec in "$@"; do
        bin=${spec%%:*} mode=${spec#*:}
        "$bin/cbuff-bench" follower "$work" t "$mode" >"$work/follower.out" & follower=$!
        # Measured from its first item on, not its start-up: wait (at most 10 s) for "ready".
        for _ in $(seq 1000); do grep -q '^ready' "$work/follower.out" 2>/dev/null && break; sleep 0.01; done
        grep -q '^ready' "$work/follower.out" || { echo "follower-cost: $spec never said ready" >&2; exit 1; }
        ms=$(perf stat -x, -p "$follower" -e task-clock sleep 5 2>&1 | awk -F, '/task-clock/ {print $1}')
        switches=$(perf stat -x, -p "$follower" -e context-switches sleep 2 2>&1 | awk -F, '/context-switches/ {print $1}')
        kill "$follower"; wait "$follower" 2>/dev/null || true
        awk -v s="$spec" -v r="$round" -v ms="$ms" -v cs="$switches" \
            'BEGIN { printf "%s r%d percent=%.2f switches_per_s=%d\n", s, r, ms / 50, cs / 2 }'
    done
done
