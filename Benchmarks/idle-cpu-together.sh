#!/usr/bin/env bash
# What following costs, every follower at the same moment: one paced writer (THIS build's
# `cbuff-bench paced-writer`), and following it together for SECONDS: BASE's and THIS build's
# `pop`, `events` and `tail --follow` (BASE: another build's cbuff and cbuff-bench, e.g. main's),
# this build's `pop@5`, `events@5` (a 5 ms wakeUpCoalescing) and `tail --coalesce 0`, with the C
# floor (Benchmarks/futex-floor.c, its own writer and follower) running beside them. On a host
# whose state changes within seconds, only figures taken at the same moment compare; this is
# how the README's "all at once" column was measured. All followers sleep on the same futex, so
# one wake call of the writer wakes them all: the writer's figure here is not one follower's.
#
#   Benchmarks/idle-cpu-together.sh BASE_BIN_DIR [RATE] [SECONDS]     (this build: .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: $0 BASE_BIN_DIR [RATE] [SECONDS]}; rate=${2:-1000}; seconds=${3:-20}
new="$PWD/.build/release"
swift build -c release --product cbuff >/dev/null && swift build -c release --product cbuff-bench >/dev/null
work=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )/cbuff-together-XXXXXX")
export CBUFF_DIR=$work/data; mkdir -m 700 "$CBUFF_DIR"
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ticks() { local s; s=$(cat /proc/$1/stat); s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
hz=$(getconf CLK_TCK)
"$new/cbuff" create together --item-size 8 --length 65536 >/dev/null
declare -A follower
start() { local label=$1; shift; "$@" > "$work/$label.out" 2>&1 & follower[$label]=$!; pids+=($!); }
start base_pop "$base/cbuff-bench" follower "$CBUFF_DIR" together pop
start base_events "$base/cbuff-bench" follower "$CBUFF_DIR" together events
start base_tail "$base/cbuff" tail together --follow --from latest
start pop "$new/cbuff-bench" follower "$CBUFF_DIR" together pop
start pop_coalesce5 "$new/cbuff-bench" follower "$CBUFF_DIR" together pop@5
start events "$new/cbuff-bench" follower "$CBUFF_DIR" together events
start events_coalesce5 "$new/cbuff-bench" follower "$CBUFF_DIR" together events@5
start tail "$new/cbuff" tail together --follow --from latest
start tail_coalesce0 "$new/cbuff" tail together --follow --from latest --coalesce 0
sleep 1
"$new/cbuff-bench" paced-writer "$CBUFF_DIR" together "$rate" > "$work/writer.out" & writer=$!; pids+=($writer)
cc -O2 -o "$work/futex-floor" Benchmarks/futex-floor.c
sleep 2
"$work/futex-floor" "$rate" plain "$seconds" > "$work/floor.out" & floor=$!; pids+=($floor)
declare -A before after
for k in "${!follower[@]}"; do before[$k]=$(ticks ${follower[$k]}); done; w0=$(ticks $writer); t0=$(date +%s%N)
sleep "$seconds"
for k in "${!follower[@]}"; do after[$k]=$(ticks ${follower[$k]}); done; w1=$(ticks $writer); t1=$(date +%s%N)
wait $floor || true
for k in $(printf '%s\n' "${!follower[@]}" | sort); do
    awk -v k=$k -v t=$(( ${after[$k]} - ${before[$k]} )) -v ns=$((t1 - t0)) -v hz=$hz -v r=$rate \
        'BEGIN { printf "bench=idle-cpu-together metric=%s_at_%s value=%.2f unit=percent\n", k, r, 100 * t / hz / (ns / 1e9) }'
done
awk -v t=$((w1 - w0)) -v ns=$((t1 - t0)) -v hz=$hz -v r=$rate \
    'BEGIN { printf "bench=idle-cpu-together metric=writer_with_all_at_%s value=%.2f unit=percent\n", r, 100 * t / hz / (ns / 1e9) }'
sed 's/bench=idle-cpu /bench=idle-cpu-together /' "$work/floor.out" | grep follower
