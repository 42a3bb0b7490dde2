#!/usr/bin/env bash
# Runs every integrity prototype (proto.c) against ../shared/anchors/ring.c in short paired rounds,
# then counts instructions per push and pop with callgrind, then runs the power-loss simulator
# (crash.c) and the Swift reachability check.
# Prints `bench=NAME metric=M value=V unit=U` lines (raw runs and the per-round ratios' medians).
#
#   Benchmarks/integrity/run.sh [--rounds N] [--items N] [--filter REGEX] [--no-timing] [--no-callgrind] [--no-crash] [--no-swift]
# --filter keeps only the timed commands whose text (program name on) matches REGEX (grep -E).
# Environment: INTEGRITY_DIR (default /dev/shm) for the ring files; ANCHORS (default ../shared/anchors).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=7 items=10000000 filter= timing=1 callgrind=1 crash=1 swift=1
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --items) items=$2; shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        --no-timing) timing=0; shift ;;
        --no-callgrind) callgrind=0; shift ;;
        --no-crash) crash=0; shift ;;
        --no-swift) swift=0; shift ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
anchors=${ANCHORS:-$here/../../../shared/anchors}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -std=gnu11 -Wall -Wextra -I"$here" -o "$work/proto" "$here/proto.c"
gcc -O2 -std=c11 -Wall -o "$work/ring" "$anchors/ring.c"
gcc -O2 -o "$work/loops" "$here/../callgrind-loops.c"
gcc -O2 -std=gnu11 -Wall -Wextra -I"$here" -o "$work/crash" "$here/crash.c"
export INTEGRITY_DIR=${INTEGRITY_DIR:-/dev/shm} ANCHOR_RING_DIR=${INTEGRITY_DIR:-/dev/shm}
P=$work/proto
msgs=$((items / 4))
pp=200000

# One round: every command once (order reversed in odd rounds), each line tagged with the round.
commands=(
    "$work/ring transfer $items"
    "$P transfer counter $items" "$P transfer stamp $items" "$P transfer stamp_nohead $items" "$P transfer seqlock $items"
    "$P transfer crc $items" "$P transfer crc_trust $items" "$P transfer counter_crc $items"
    "$P transfer crc1 $items" "$P transfer crc1_trust $items" "$P transfer crc1_seqlock $items" "$P transfer line7 $items" "$P transfer side $items" "$P transfer side_itemroom $items" "$P transfer side_nocrc $items" "$P transfer side_nostore $items" "$P transfer side_groupend $items" "$P transfer side_late $items" "$P transfer trailer $items"
    "$P transfer counter_item64 $((items / 4))" "$P transfer side_item64 $((items / 4))" "$P transfer side_item64_late $((items / 4))"
    "$work/ring transfer-batch $((items * 4))"
    "$P batch counter $((items * 4))" "$P batch stamp $((items * 4))" "$P batch stamp_nohead $((items * 4))" "$P batch seqlock $((items * 4))"
    "$P batch crc $((items * 4))" "$P batch crc_trust $((items * 4))" "$P batch counter_crc $((items * 4))"
    "$P batch crc1 $((items * 4))" "$P batch crc1_trust $((items * 4))" "$P batch crc1_seqlock $((items * 4))" "$P batch line7 $((items * 4))"
    "$P batch commit $((items * 4))" "$P batch commit_trust $((items * 4))" "$P batch side $((items * 4))" "$P batch trailer $((items * 4))"
    "$P batch counter_item64 $items" "$P batch side_item64 $items" "$P batch side_item64_late $items"
    "$work/ring pingpong $pp"
    "$P pingpong counter $pp" "$P pingpong stamp $pp" "$P pingpong stamp_nohead $pp" "$P pingpong seqlock $pp" "$P pingpong crc $pp" "$P pingpong crc_trust $pp" "$P pingpong counter_crc $pp"
    "$P pingpong crc1 $pp" "$P pingpong crc1_trust $pp" "$P pingpong crc1_seqlock $pp" "$P pingpong line7 $pp" "$P pingpong side $pp" "$P pingpong trailer $pp"
    "$P pingpong counter_item64 $pp" "$P pingpong side_item64 $pp" "$P pingpong side_item64_late $pp"
    "$P message msg 64 $msgs" "$P message msg_crc 64 $msgs" "$P message msg_crc_trust 64 $msgs"
    "$P message msg 1024 $((msgs / 8))" "$P message msg_crc 1024 $((msgs / 8))" "$P message msg_crc_trust 1024 $((msgs / 8))"
    "$P msgpingpong msg 64 $pp" "$P msgpingpong msg_crc 64 $pp" "$P msgpingpong msg_crc_trust 64 $pp"
    "$P msgpingpong msg 1024 $pp" "$P msgpingpong msg_crc 1024 $pp" "$P msgpingpong msg_crc_trust 1024 $pp"
)
if [ -n "$filter" ]; then
    kept=()
    for c in "${commands[@]}"; do if grep -qE -- "$filter" <<<"${c#"$work/"}"; then kept+=("$c"); fi; done
    commands=("${kept[@]}")
fi
if [ $timing = 1 ]; then
    raw=$work/raw
    echo "# $rounds rounds of ${#commands[@]} runs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    for round in $(seq 1 "$rounds"); do
        order=$(seq 0 $((${#commands[@]} - 1)))
        [ $((round % 2)) = 0 ] || order=$(echo "$order" | tac)
        for i in $order; do
            ${commands[$i]} | sed "s/^anchor=/bench=/; s/^/round=$round /" | tee -a "$raw" >&2
        done
    done
    echo "# done, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    # Per round: each value over its baseline's in the same round (items: counter and c_ring,
    # batches: counter_batch64 and c_ring_batch64, ping-pong: counter and c_ring, messages: msg
    # of the same size); then the medians over the rounds.
    awk '
    function base(name,   b) {
        if (name ~ /^msg.*_64B$/) return "msg_64B"
        if (name ~ /^msg.*_1024B$/) return "msg_1024B"
        if (name ~ /_item64.*_batch64$/) return "counter_item64_batch64"
        if (name ~ /_item64/) return "counter_item64"
        if (name ~ /_batch64$/) return "counter_batch64"
        return "counter"
    }
    function anchor(name) { return name ~ /_item64/ ? "" : name ~ /_batch64$/ ? "c_ring_batch64" : (name ~ /^msg/ ? "" : "c_ring") }
    function median(list,   n, x, i, j, t) {
        n = split(substr(list, 2), x, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] + 0 > x[j] + 0; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
        q1 = x[int(n / 4) + 1]; q3 = x[int(3 * n / 4) + (n % 4 ? 1 : 0)]   # the middle half, for the ratios
        return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
    }
    {
        split($1, a, "="); r = a[2]; split($2, b, "="); name = b[2]; split($3, c, "="); m = c[2]; split($4, d, "="); v = d[2]
        val[r, name, m] = v; seen[name, m] = 1; unit[name, m] = $5; rs[r] = 1
    }
    END {
        for (k in seen) {
            split(k, p, SUBSEP); name = p[1]; m = p[2]
            vals = ""; rb = ""; ra = ""
            for (r in rs) {
                if (!((r, name, m) in val)) continue
                vals = vals " " val[r, name, m]
                if ((r, base(name), m) in val) rb = rb " " val[r, name, m] / val[r, base(name), m]
                an = anchor(name)
                if (an != "" && (r, an, m) in val) ra = ra " " val[r, name, m] / val[r, an, m]
            }
            n = split(substr(vals, 2), tmp, " ")
            u = unit[name, m]; sub("unit=", "", u)
            printf "bench=%s metric=%s_median value=%.4g unit=%s rounds=%d\n", name, m, median(vals), u, n
            if (rb != "") { r = median(rb); printf "bench=%s metric=%s_ratio_to_%s value=%.3f unit=ratio middle_half=%.2f..%.2f\n", name, m, base(name), r, q1, q3 }
            if (ra != "") { r = median(ra); printf "bench=%s metric=%s_ratio_to_%s value=%.3f unit=ratio middle_half=%.2f..%.2f\n", name, m, anchor(name), r, q1, q3 }
        }
    }' "$raw" | sort
fi

if [ $callgrind = 1 ]; then
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
    n=262144
    count() { # function-pattern command... -> instructions inside that function
        valgrind --tool=callgrind --toggle-collect="$1" --callgrind-out-file="$work/cg" "${@:2}" >/dev/null 2>&1
        callgrind_annotate "$work/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
    }
    per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.1f", a / n }'; }
    for v in counter stamp stamp_nohead seqlock crc crc_trust counter_crc crc1 crc1_trust crc1_seqlock line7 side side_groupend side_late trailer counter_item64 side_item64 side_item64_late; do
        echo "bench=$v metric=instructions_per_push value=$(per "$(count "push_loop_$v" $P loops $v $n)" $n) unit=instructions"
        echo "bench=$v metric=instructions_per_pop value=$(per "$(count "pop_loop_$v" $P loops $v $n)" $n) unit=instructions"
    done
    for v in counter stamp stamp_nohead seqlock crc crc_trust counter_crc crc1 crc1_trust crc1_seqlock line7 commit commit_trust side trailer counter_item64 side_item64 side_item64_late; do
        echo "bench=${v}_batch64 metric=instructions_per_push value=$(per "$(count "push64_loop_$v" $P loops $v $n batch)" $n) unit=instructions/item"
        echo "bench=${v}_batch64 metric=instructions_per_pop value=$(per "$(count "pop64_loop_$v" $P loops $v $n batch)" $n) unit=instructions/item"
    done
    m=65536
    for size in 64 1024; do
        for v in msg msg_crc msg_crc_trust; do
            echo "bench=${v}_${size}B metric=instructions_per_push value=$(per "$(count "push_loop_$v" $P loops $v $m $size)" $m) unit=instructions"
            echo "bench=${v}_${size}B metric=instructions_per_pop value=$(per "$(count "pop_loop_$v" $P loops $v $m $size)" $m) unit=instructions"
        done
    done
    # the reference loops cbuff's own instruction counts are compared with (Benchmarks/instructions.sh)
    echo "bench=c_ring_loops metric=instructions_per_push value=$(per "$(count push_loop "$work/loops" push $n "$work/ring-file")" $n) unit=instructions"
    echo "bench=c_ring_loops metric=instructions_per_pop value=$(per "$(count pop_loop "$work/loops" pop $n "$work/ring-file")" $n) unit=instructions"
    echo "bench=c_ring_loops_batch64 metric=instructions_per_push value=$(per "$(count push64_loop "$work/loops" push64 $n "$work/ring-file")" $n) unit=instructions/item"
    echo "bench=c_ring_loops_batch64 metric=instructions_per_pop value=$(per "$(count pop64_loop "$work/loops" pop64 $n "$work/ring-file")" $n) unit=instructions/item"
fi

if [ $crash = 1 ]; then
    for size in 8 24 40 200; do
        for sector in 512 4096; do
            for mode in "" norace recent norace,recent; do "$work/crash" $size $sector 2000 $mode; done
        done
    done
fi

if [ $swift = 1 ]; then
    bash "$here/swift/run.sh"
fi
