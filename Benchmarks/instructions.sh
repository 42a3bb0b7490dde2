#!/usr/bin/env bash
# Instructions per push and per pop, counted by callgrind (so independent of this host's fast and
# slow states): N single pushes of 8-byte integers into a ring nobody reads, and N single pops from
# a full ring, for cbuff (the test agent's push-only and pop-only, release build) and for the C
# loops of Benchmarks/callgrind-loops.c (gcc -O2), each loop counted alone (--toggle-collect).
#
#   Benchmarks/instructions.sh [N]        (default 1000000; needs valgrind)
#   Benchmarks/instructions.sh N checked  the same over rings of format version 4 (a check word in
#                                          every slot)
#   Benchmarks/instructions.sh N messages  the same for messages of 64 bytes and 1 KiB (N each;
#                                          the pop ring holds 128 MiB: N at most 120000 for
#                                          1 KiB), format version 3 (no check word) against
#                                          version 4 (a CRC-32 per record), pushes into a lapped
#                                          ring nobody reads and pops by a named reader
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
swift build -c release --product cbuff-test-agent >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp .build/release/cbuff-test-agent "$work/agent"
strip -g "$work/agent"     # valgrind 3.19 cannot read this toolchain's DWARF 5
gcc -O2 -o "$work/loops" Benchmarks/callgrind-loops.c
count() { # function-pattern command... -> instructions inside that function
    valgrind --tool=callgrind --toggle-collect="$1" --callgrind-out-file="$work/out" "${@:2}" >/dev/null 2>&1
    callgrind_annotate "$work/out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}
if [ "${2:-}" = messages ]; then
    for size in 64 1024; do
        for version in v3 v4; do
            push=$(count '*Push*Loop*' "$work/agent" push-messages "$work" "push-$size-$version" "$n" "$size" "$version")
            pop=$(count '*Pop*Loop*' "$work/agent" pop-messages "$work" "pop-$size-$version" "$n" "$size" "$version")
            awk -v n="$n" -v s="$size" -v v="$version" -v p="$push" -v o="$pop" 'BEGIN {
                printf "instructions per %d-byte message (%s): push %.1f, pop %.1f\n", s, v, p / n, o / n }'
        done
    done
    exit 0
fi
# overwrite with an anonymous reader, then block with a named reader (the lossless transfer's),
# then the lossless one 64 items per call against the C loops' batches of 64
for mode in overwrite lossless lossless-batch; do
    case $mode in
        overwrite) args=(overwrite single) c=("" "") ;;
        lossless) args=(lossless single) c=("" "") ;;
        lossless-batch) args=(lossless batch) c=(64 64) ;;
    esac
    [ "${2:-}" = checked ] && args+=(checked)
    cbuff_push=$(count '*Push*Loop*' "$work/agent" push-only "$work" "push-$mode" "$n" "${args[@]}")
    cbuff_pop=$(count '*Pop*Loop*' "$work/agent" pop-only "$work" "pop-$mode" "$n" "${args[@]}")
    c_push=$(count "push${c[0]}_loop" "$work/loops" "push${c[0]}" "$n" "$work/ring")
    c_pop=$(count "pop${c[1]}_loop" "$work/loops" "pop${c[1]}" "$n" "$work/ring")
    awk -v n="$n" -v m="$mode" -v cp="$cbuff_push" -v co="$cbuff_pop" -v rp="$c_push" -v ro="$c_pop" 'BEGIN {
        printf "instructions per push (%s): cbuff %.1f, C %.1f, ratio %.2f\n", m, cp / n, rp / n, cp / rp
        printf "instructions per pop (%s):  cbuff %.1f, C %.1f, ratio %.2f\n", m, co / n, ro / n, co / ro }'
done
