#!/usr/bin/env bash
# The relay against itself: cbuff-relay built at REV (from `git archive`, in a temporary
# directory) and as the working tree has it, run alternately on one nats-server, the order
# flipped every pair. Each run is `out --once` of ITEMS 8-byte items into a stream of its own,
# then `in --once` of that stream into a buffer of its own; the rates are the relays' last lines.
# Prints each pair's ratios (this build's rate over REV's) and their medians: the host's fast and
# slow states move both builds alike within a pair.
#
#   bash Relay/Benchmarks/ab.sh REV [--pairs N] [--items N]
#
# Needs nats-server and libnats-dev; release builds only (REV's takes minutes).
set -euo pipefail
relay_dir=$(cd "$(dirname "$0")/.." && pwd)
root=$(dirname "$relay_dir")
[ $# -ge 1 ] || { echo "usage: Relay/Benchmarks/ab.sh REV [--pairs N] [--items N]" >&2; exit 64; }
rev=$1; shift
pairs=8 items=500000
while [ $# -gt 0 ]; do
    case $1 in
        --pairs) pairs=$2 ;; --items) items=$2 ;;
        *) echo "ab.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift 2
done
server_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
work=$(mktemp -d /tmp/cbuff-relay-ab.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/tree"
git -C "$root" archive "$rev" | tar -x -C "$work/tree"
(cd "$work/tree/Relay" && swift build -c release --product cbuff-relay >&2)
(cd "$relay_dir" && swift build -c release --product cbuff-relay >&2)
(cd "$root" && swift build -c release --product cbuff >&2)
cp "$work/tree/Relay/.build/release/cbuff-relay" "$work/before"
cp "$relay_dir/.build/release/cbuff-relay" "$work/after"
cbuff="$root/.build/release/cbuff"

port=$((20000 + RANDOM % 40000))
url="nats://127.0.0.1:$port"
"$server_bin" -js -a 127.0.0.1 -p "$port" -sd "$work/store" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do grep -q "Server is ready" "$work/server.log" && break; sleep 0.05; done
data="$work/data"
mkdir -m 700 "$data"
"$cbuff" --dir "$data" create a --item-size 8 --length "$items" >/dev/null
seq 0 $((items - 1)) | "$cbuff" --dir "$data" push a --stdin
# The rate in a relay's last line: "... N relayed in S s (R/s)".
rate_of() { sed -n 's/.* in [0-9.]* s (\([0-9]*\)\/s).*/\1/p' "$1" | tail -1; }
run() { # build pair -> "out-rate in-rate"
    local name="$2$1"
    "$work/$1" out a --server "$url" --dir "$data" --stream "S$name" --subject "s.$name" --reader "r$name" --once 2>"$work/out.log"
    "$cbuff" --dir "$data" create "b$name" --item-size 8 --length "$items" --policy block >/dev/null
    "$work/$1" in "b$name" --server "$url" --dir "$data" --stream "S$name" --consumer c --once 2>"$work/in.log"
    echo "$(rate_of "$work/out.log") $(rate_of "$work/in.log")"
}
for pair in $(seq 1 "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then b=$(run before "$pair"); a=$(run after "$pair"); else a=$(run after "$pair"); b=$(run before "$pair"); fi
    echo "$a $b"
done | awk -v rev="$rev" '
    { o[NR] = $1 / $3; i[NR] = $2 / $4; ao[NR] = $1; bo[NR] = $3; ai[NR] = $2; bi[NR] = $4
      printf "pair %d: out %.2f, in %.2f\n", NR, o[NR], i[NR] }
    function median(x, n,   k, j, t) {
        for (k = 2; k <= n; k++) for (j = k; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
        return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
    }
    END { n = NR
          printf "out: this build / %s, median of %d pairs %.2f (medians: %g against %g items/s)\n", rev, n, median(o, n), median(ao, n), median(bo, n)
          printf "in: this build / %s, median of %d pairs %.2f (medians: %g against %g items/s)\n", rev, n, median(i, n), median(ai, n), median(bi, n) }'
