#!/usr/bin/env bash
# The relay's speed on this host, beside a plain libnats publisher in the same rounds.
#
#   bash Relay/Benchmarks/run.sh [--rounds N] [--items N] [--rate N] [--samples N]
#
# Each round starts a fresh nats-server (JetStream, file storage in a temporary store on a
# loopback port), fills a buffer with ITEMS 8-byte items, then, in alternating order, runs the
# plain publisher (plain-publisher.c: the same async window and Nats-Msg-Id, into a stream of its
# own) and `cbuff-relay out --once` (ring -> stream), then `cbuff-relay in --once` (stream -> a
# second ring). Rates are the relays' own last lines (first batch to last acknowledgement, so
# `--once`'s final empty fetch is not counted). Then end-to-end latency: both relays following,
# relay-latency stamping RATE items/s into the first ring and reading them back from the second.
# Prints lines `bench=NAME metric=M value=V unit=U` (the plain publisher's as `anchor=…`) and a
# summary with ratios. Needs nats-server and libnats-dev; release builds only.
set -euo pipefail
rounds=3 items=1000000 rate=2000 samples=20000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --items) items=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --samples) samples=$2; shift 2 ;;
        *) echo "usage: run.sh [--rounds N] [--items N] [--rate N] [--samples N]" >&2; exit 64 ;;
    esac
done
relay_dir=$(cd "$(dirname "$0")/.." && pwd)
root=$(dirname "$relay_dir")
server_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$server_bin" ] || { echo "run.sh needs nats-server (apt-get install nats-server libnats-dev)" >&2; exit 1; }

(cd "$root" && swift build -c release --product cbuff >/dev/null)
(cd "$relay_dir" && swift build -c release >/dev/null)
cbuff="$root/.build/release/cbuff"
relay="$relay_dir/.build/release/cbuff-relay"
latency="$relay_dir/.build/release/relay-latency"
work=$(mktemp -d /tmp/cbuff-relay-bench.XXXXXX)
server_pid=
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/plain-publisher" "$relay_dir/Benchmarks/plain-publisher.c" -lnats

# A fresh server, ready when its log says so (no sleeping on a guess).
start_server() {
    local store="$work/store-$1" log="$work/server-$1.log"
    port=$((20000 + RANDOM % 40000))
    mkdir -p "$store"
    "$server_bin" -js -a 127.0.0.1 -p "$port" -sd "$store" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do grep -q "Server is ready" "$log" && return; kill -0 "$server_pid" || break; sleep 0.05; done
    echo "nats-server did not start:" >&2; cat "$log" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
# The rate in a relay's last line: "... N relayed in S s (R/s)".
rate_of() { sed -n 's/.* in [0-9.]* s (\([0-9]*\)\/s).*/\1/p' "$1" | tail -1; }

plain_rates=() out_rates=() in_rates=()
for round in $(seq 1 "$rounds"); do
    start_server "$round"
    url="nats://127.0.0.1:$port"
    data="$work/data-$round"
    mkdir -m 700 "$data"
    "$cbuff" --dir "$data" create a --item-size 8 --length "$items" >/dev/null
    seq 0 $((items - 1)) | "$cbuff" --dir "$data" push a --stdin
    "$cbuff" --dir "$data" create b --item-size 8 --length "$items" --policy block >/dev/null
    run_plain() {
        local line
        line=$("$work/plain-publisher" "$url" PLAIN plain.x "$items" 256)
        echo "$line round=$round"
        plain_rates+=("$(sed -n 's/.* value=\([0-9.]*\).*/\1/p' <<<"$line")")
    }
    run_out() {
        "$relay" out a --server "$url" --dir "$data" --stream S --subject s.a --once 2>"$work/out-$round.log"
        out_rates+=("$(rate_of "$work/out-$round.log")")
        echo "bench=relay_out metric=items_per_s value=${out_rates[-1]} unit=items/s round=$round"
    }
    if [ $((round % 2)) = 1 ]; then run_plain; run_out; else run_out; run_plain; fi
    "$relay" in b --server "$url" --dir "$data" --stream S --consumer c --once 2>"$work/in-$round.log"
    in_rates+=("$(rate_of "$work/in-$round.log")")
    echo "bench=relay_in metric=items_per_s value=${in_rates[-1]} unit=items/s round=$round"
    [ "$("$cbuff" --dir "$data" inspect b --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["written"])')" = "$items" ] \
        || { echo "ring b does not hold the $items items" >&2; exit 1; }
    stop_server
done

# End-to-end latency at a moderate rate, both relays following.
start_server latency
url="nats://127.0.0.1:$port"
data="$work/data-latency"
mkdir -m 700 "$data"
"$cbuff" --dir "$data" create la --item-size 8 --length 65536 >/dev/null
"$cbuff" --dir "$data" create lb --item-size 8 --length 65536 >/dev/null
"$relay" out la --server "$url" --dir "$data" --stream L --subject l.a --window 64 2>"$work/out-latency.log" &
out_pid=$!
"$relay" in lb --server "$url" --dir "$data" --stream L --consumer lc 2>"$work/in-latency.log" &
in_pid=$!
"$latency" "$data" la lb "$rate" "$samples"
kill -TERM "$out_pid" "$in_pid"; wait "$out_pid" "$in_pid" || true
stop_server

python3 - "${plain_rates[*]}" "${out_rates[*]}" "${in_rates[*]}" <<'PY'
import statistics, sys
plain, out, inn = ([float(v) for v in arg.split()] for arg in sys.argv[1:4])
ratios = [o / p for o, p in zip(out, plain)]
print(f"summary: out {min(out)/1e3:.0f}-{max(out)/1e3:.0f} k items/s (median {statistics.median(out)/1e3:.0f} k), "
      f"plain libnats publisher {min(plain)/1e3:.0f}-{max(plain)/1e3:.0f} k, out/plain {min(ratios):.2f}-{max(ratios):.2f} "
      f"(median {statistics.median(ratios):.2f}); in {min(inn)/1e3:.0f}-{max(inn)/1e3:.0f} k items/s")
PY
