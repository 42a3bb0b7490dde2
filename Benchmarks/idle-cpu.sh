#!/usr/bin/env bash
# What following a slow stream costs. A writer (`cbuff-bench paced-writer`) pushes at a fixed
# rate; one follower at a time waits for each item; the CPU time each process used over the run
# (utime + stime of /proc/PID/stat, every thread, the ones that ended included) divided by the
# wall time is its share of one core. Followers: `cbuff tail --follow` (into a file, whose lines
# are counted afterwards), a library reader in pop(timeout:) (`pop`), the same through events() (`events`;
# `events-here`: iterated on the sequence's own executor), a
# MessageReader of a message buffer in pop(timeout:) (`messages`), and the Python package's
# Reader.follow() (`python`); `FOLLOWER@MS` runs it with a coalescing delay of MS milliseconds
# (`tail@0`: `--coalesce 0`, each item at once; `pop@5`: `wakeUpCoalescing = .milliseconds(5)`;
# `tail` alone is tail's default, 5 ms). Each follower must have received nearly every item pushed while it
# ran, or the script fails: a follower that gets nothing costs nothing.
#
#   Benchmarks/idle-cpu.sh                          # rates 10 and 1000/s, 10 s each, release build
#   Benchmarks/idle-cpu.sh --seconds 20 --rates "10 1000" --followers "tail python"
#
# Prints `bench=idle-cpu metric=FOLLOWER_at_RATE value=PERCENT unit=percent`,
# `bench=idle-cpu metric=writer_at_RATE_with_FOLLOWER value=PERCENT unit=percent`, and, first for
# each rate, `metric=writer_alone_at_RATE`: the writer with nobody following, its pacing's floor,
# and `metric=c_floor_...`: what a C follower that does nothing but be woken costs on this host.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
warmup=2
rates="10 1000"
followers="tail tail@0 pop pop@5 events events@5 events-here events-here@5 messages python"
build=1
bin="$PWD/.build/release"
python_src="$PWD/python/src"
base=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rates) rates="$2"; shift 2 ;;
        --followers) followers="$2"; shift 2 ;;
        --bin) bin="$2"; build=0; shift 2 ;;             # cbuff and cbuff-bench from elsewhere (another build)
        --python-src) python_src="$2"; shift 2 ;;        # the Python package from elsewhere
        --dir) base="$2"; shift 2 ;;                     # where the data directory and outputs go
        *) echo "usage: $0 [--seconds N] [--rates \"10 1000\"] [--followers \"tail tail@0 pop pop@5 events events@5 events-here events-here@5 messages python\"] [--bin DIR] [--python-src DIR] [--dir DIR]" >&2; exit 64 ;;
    esac
done

if [ "$build" = 1 ]; then
    swift build -c release --product cbuff >/dev/null
    swift build -c release --product cbuff-bench >/dev/null
fi
# In memory where there is /dev/shm (as the other benchmarks): tail's output file then costs no
# journal write per line.
if [ -z "$base" ]; then if [ -w /dev/shm ]; then base=/dev/shm; else base="${TMPDIR:-/tmp}"; fi; fi
work="$(mktemp -d "$base/cbuff-idle-XXXXXX")"
export CBUFF_DIR="$work/data"
mkdir -m 700 "$CBUFF_DIR"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)

# utime + stime of a live process, in clock ticks (fields 14 and 15; the name may hold spaces).
ticks() {
    local stat
    stat=$(cat "/proc/$1/stat")
    stat=${stat##*) }
    set -- $stat
    echo $(( ${12} + ${13} ))
}

# Waits (at most 10 s) until file $1 holds a line starting with $2.
await_line() {
    local i
    for i in $(seq 1000); do
        grep -q "^$2" "$1" 2>/dev/null && return 0
        sleep 0.01
    done
    echo "idle-cpu: no \"$2\" in $1" >&2
    cat "$1" >&2
    exit 1
}

percent() {   # ticks, nanoseconds
    awk -v t="$1" -v ns="$2" -v hz="$hz" 'BEGIN { printf "%.3f", 100 * t / hz / (ns / 1e9) }'
}

python_follower='
import signal, sys
from cbuff import DataDirectory
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
reader = DataDirectory(sys.argv[1]).open_reader(sys.argv[2], start="latest")
print("ready", flush=True)
received = 0
while not stop:
    for _ in reader.follow(timeout=0.2):
        received += 1
        if stop:
            break
print("received", received, flush=True)
'

# The writer's floor: the same paced writer with nobody following (its cost is then the pacing
# itself, sleeping until each item's deadline: a wake-up a millisecond at 1000/s).
writer_alone() {
    local rate=$1 name="idle-alone-$1"
    "$bin/cbuff" create "$name" --item-size 8 --length 4096 >/dev/null
    "$bin/cbuff-bench" paced-writer "$CBUFF_DIR" "$name" "$rate" > "$work/$name.writer" & writer_pid=$!
    pids+=("$writer_pid")
    await_line "$work/$name.writer" started
    sleep "$warmup"
    start=$(date +%s%N); w0=$(ticks "$writer_pid")
    sleep "$seconds"
    end=$(date +%s%N); w1=$(ticks "$writer_pid")
    kill -TERM "$writer_pid"; wait "$writer_pid"
    echo "bench=idle-cpu metric=writer_alone_at_${rate} value=$(percent $((w1 - w0)) $((end - start))) unit=percent"
    "$bin/cbuff" rm "$name" >/dev/null
}

# The host's floor (Benchmarks/futex-floor.c), where there is a C compiler: a follower that only
# sleeps on a futex and is woken once per item, without and with a membarrier before each sleep.
floor=""
if command -v cc >/dev/null; then
    cc -O2 -o "$work/futex-floor" Benchmarks/futex-floor.c && floor="$work/futex-floor"
fi

for rate in $rates; do
    if [ -n "$floor" ]; then
        "$floor" "$rate" plain "$seconds"
        "$floor" "$rate" membarrier "$seconds"
    fi
    writer_alone "$rate"
    for follower in $followers; do
        metric="${follower//@/_coalesce}"       # pop@5: pop with a 5 ms wakeUpCoalescing
        name="idle-${metric}-$rate"
        if [ "${follower%@*}" = messages ]; then
            "$bin/cbuff" create "$name" --messages --capacity 64K --max-message 64 >/dev/null
        else
            "$bin/cbuff" create "$name" --item-size 8 --length 4096 >/dev/null
        fi
        out="$work/$name"
        case "$follower" in
            tail) "$bin/cbuff" tail "$name" --follow --from latest > "$out.lines" & follower_pid=$! ;;
            tail@*) "$bin/cbuff" tail "$name" --follow --from latest --coalesce "${follower#tail@}" > "$out.lines" & follower_pid=$! ;;
            pop|events|events-here|messages|pop@*|events@*|events-here@*|messages@*) "$bin/cbuff-bench" follower "$CBUFF_DIR" "$name" "$follower" > "$out.follower" & follower_pid=$! ;;
            python) PYTHONPATH="$python_src" python3 -c "$python_follower" "$CBUFF_DIR" "$name" > "$out.follower" & follower_pid=$! ;;
            *) echo "idle-cpu: unknown follower $follower" >&2; exit 64 ;;
        esac
        pids+=("$follower_pid")
        [ "${follower%@*}" = tail ] || await_line "$out.follower" ready
        "$bin/cbuff-bench" paced-writer "$CBUFF_DIR" "$name" "$rate" > "$out.writer" & writer_pid=$!
        pids+=("$writer_pid")
        await_line "$out.writer" started
        sleep "$warmup"
        start=$(date +%s%N); f0=$(ticks "$follower_pid"); w0=$(ticks "$writer_pid")
        sleep "$seconds"
        end=$(date +%s%N); f1=$(ticks "$follower_pid"); w1=$(ticks "$writer_pid")
        kill -TERM "$writer_pid"; wait "$writer_pid"
        kill -TERM "$follower_pid"; wait "$follower_pid" || true
        pushed=$(awk '/^pushed/ { print $2 }' "$out.writer")
        if [ "${follower%@*}" = tail ]; then received=$(wc -l < "$out.lines"); else received=$(awk '/^received/ { print $2 }' "$out.follower"); fi
        if [ -z "$received" ] || [ "$received" -lt $(( pushed * 9 / 10 )) ]; then
            echo "idle-cpu: the $follower follower received ${received:-nothing} of $pushed items at $rate/s" >&2
            exit 1
        fi
        echo "bench=idle-cpu metric=${metric}_at_${rate} value=$(percent $((f1 - f0)) $((end - start))) unit=percent"
        echo "bench=idle-cpu metric=writer_at_${rate}_with_${metric} value=$(percent $((w1 - w0)) $((end - start))) unit=percent"
        "$bin/cbuff" rm "$name" >/dev/null
    done
done
