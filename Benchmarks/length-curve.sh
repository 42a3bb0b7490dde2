#!/usr/bin/env bash
# Large items filled and read in place against ring length: for 64 KiB and 1 MiB items, cbuff
# rings of 4 to 64 slots (`cbuff-bench --only filled --length N`), each run paired with iceoryx's
# samples of the same size filled in place (its anchor), the order flipped every round. Prints
# every pair, then the median cbuff/iceoryx ratio per size and length.
#
#   Benchmarks/length-curve.sh [--rounds N] [--dir DIR]      (default 5, /dev/shm/cbuff-length)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 dir=/dev/shm/cbuff-length
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        *) echo "usage: length-curve.sh [--rounds N] [--dir DIR]" >&2; exit 64 ;;
    esac
done
anchors=${ANCHORS:-../shared/anchors/run-anchors.sh}
build=${ANCHOR_BUILD_DIR:-${TMPDIR:-/tmp}/cbuff-anchors-build}
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
roudi=
trap 'rm -f "$out" "$out.roudi"; [ -z "$roudi" ] || { kill "$roudi"; wait "$roudi"; } 2>/dev/null' EXIT
source Benchmarks/roudi.sh
start_roudi "$anchors" "$build" "$out.roudi"
value() { sed -n "s/.*$1 metric=transfer_items_per_s value=\([^ ]*\).*/\1/p" | head -1; }
for round in $(seq 1 "$rounds"); do
    for spec in "65536 150000 60000" "1048576 10000 6000"; do
        set -- $spec
        for length in 4 8 16 64; do
            cbuff() { .build/release/cbuff-bench --runs 1 --only filled --sizes "$1" --items "$2" --length "$length" --dir "$dir" 2>/dev/null | value "bench=cbuff_item[A-Za-z0-9_]*"; }
            iceoryx() { "$build/iceoryx" transfer-size "$1" "$3" 1 2>/dev/null | value "anchor=iceoryx_item[A-Za-z0-9]*"; }
            if [ $((round % 2)) = 0 ]; then i=$(iceoryx "$@"); c=$(cbuff "$@"); else c=$(cbuff "$@"); i=$(iceoryx "$@"); fi
            echo "size=$1 length=$length round=$round cbuff=$c iceoryx=$i" | tee -a "$out"
        done
    done
done
python3 - "$out" <<'PY'
import re, statistics, sys
ratios = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=") for kv in line.split())
    ratios.setdefault((int(f["size"]), int(f["length"])), []).append(float(f["cbuff"]) / float(f["iceoryx"]))
for (size, length), r in sorted(ratios.items()):
    print(f"curve size={size} length={length} cbuff/iceoryx median {statistics.median(r):.2f} (range {min(r):.2f}-{max(r):.2f}, {len(r)} rounds)")
PY
