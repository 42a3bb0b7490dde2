#!/usr/bin/env bash
# What one follower of a 1,000 items/s stream costs, counted by the kernel (`perf stat`
# task-clock and context switches over 5 s: nanosecond resolution, where idle-cpu.sh's clock
# ticks are 10 ms), for several follower kinds and builds, alternated round by round so that
# the host's fast and slow states fall on all of them alike.
#
#   Benchmarks/follower-cost.sh [--rounds N] [--rate N] [--messages] SPEC...
#
# SPEC is BIN_DIR:MODE, MODE one of cbuff-bench's follower modes (pop, events, events-here,
# messages, each with @MS for a coalescing delay), or PYTHON_SRC:python[@MS], the Python
# package under PYTHON_SRC (a directory holding `cbuff/`) in `Reader.follow()` (its default
# coalescing, 5 ms, unless @MS), e.g.
#   Benchmarks/follower-cost.sh --rounds 3 .build/release:events .build/release:events-here@5 /tmp/old/.build/release:events
#   Benchmarks/follower-cost.sh --rounds 5 python/src:python /tmp/old/python/src:python
# The first SPEC must name a BIN_DIR (its cbuff and cbuff-bench create the buffer and write).
# With --messages the stream is of 8-byte messages (a message buffer), for the `messages` mode
# and the Python follower; else of 8-byte items, for the others.
# Prints one line per run: `SPEC rROUND percent=P switches_per_s=S` (P: share of one core).
set -euo pipefail
rounds=3 rate=1000 kind=(--item-size 8 --length 4096)
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --messages) kind=(--messages --capacity 1M --max-message 64); shift ;;
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
"$first/cbuff" --dir "$work" create t "${kind[@]}" >/dev/null
"$first/cbuff-bench" paced-writer "$work" t "$rate" >/dev/null & writer=$!
python_follower='
import signal, sys
from cbuff import DataDirectory
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
reader = DataDirectory(sys.argv[1]).open_reader(sys.argv[2], start="latest")
options = {} if len(sys.argv) < 4 else {"coalesce": float(sys.argv[3]) / 1000}
print("ready", flush=True)
while not stop:
    for _ in reader.follow(timeout=0.2, **options):
        if stop:
            break
'
for round in $(seq "$rounds"); do
    for spec in "$@"; do
        bin=${spec%%:*} mode=${spec#*:}
        case "$mode" in
            python) PYTHONPATH="$bin" python3 -c "$python_follower" "$work" t >"$work/follower.out" & follower=$! ;;
            python@*) PYTHONPATH="$bin" python3 -c "$python_follower" "$work" t "${mode#python@}" >"$work/follower.out" & follower=$! ;;
            *) "$bin/cbuff-bench" follower "$work" t "$mode" >"$work/follower.out" & follower=$! ;;
        esac
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
