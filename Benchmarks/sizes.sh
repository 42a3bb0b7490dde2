#!/usr/bin/env bash
# Throughput against item size (8 B to 4 KiB), lossless transfer of bytes between two processes,
# with the data directory on disk (TMPDIR, else /tmp) and in memory (/dev/shm). The host flips
# between a fast and a slow state within seconds, so disk and memory are measured alternately,
# size by size, for ROUNDS rounds, and compared by their medians. Prints every bench line, then a
# table of medians; with a Python that has matplotlib (PYTHON=...), it also draws
# Benchmarks/throughput-vs-item-size.png.
#
#   Benchmarks/sizes.sh [--rounds N]        (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
if [ "${1:-}" = --rounds ]; then rounds=$2; fi
swift build -c release --product cbuff-bench >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$rounds"); do
    for size in 8 16 32 64 128 256 512 1024 2048 4096; do
        for place in disk shm; do
            if [ $place = disk ]; then dir="${TMPDIR:-/tmp}/cbuff-sizes-$$"; else dir="/dev/shm/cbuff-sizes-$$"; fi
            .build/release/cbuff-bench --runs 1 --only sizes --sizes "$size" --items 20000000 --dir "$dir" 2>/dev/null |
                sed "s/^/place=$place /" | tee -a "$out"
        done
    done
done
awk '/metric=transfer_items_per_s/ {
        split($1, p, "="); split($2, b, "="); sub("cbuff_item", "", b[2]); sub("B", "", b[2]); sub("value=", "", $4)
        key = b[2] " " p[2]; n[key]++; v[key, n[key]] = $4 + 0; sizes[b[2]] = 1 }
     function median(key,   i, j, t, m) {
        m = n[key]; for (i = 1; i <= m; i++) w[i] = v[key, i]
        for (i = 2; i <= m; i++) for (j = i; j > 1 && w[j-1] > w[j]; j--) { t = w[j]; w[j] = w[j-1]; w[j-1] = t }
        return m % 2 ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2 }
     END {
        printf "\n%10s %18s %18s %12s\n", "item size", "disk (M items/s)", "/dev/shm (M/s)", "disk / shm"
        for (s = 8; s <= 4096; s *= 2) if (s in sizes) {
            d = median(s " disk"); m = median(s " shm")
            printf "%9dB %18.2f %18.2f %12.2f\n", s, d / 1e6, m / 1e6, d / m } }' "$out"
"${PYTHON:-python3}" - "$out" Benchmarks/throughput-vs-item-size.png <<'PY' || echo "# no plot: this Python lacks matplotlib (PYTHON=/path/to/python)" >&2
import re, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
series = {}
for line in open(sys.argv[1]):
    m = re.match(r"place=(\w+) bench=cbuff_item(\d+)B metric=transfer_(items|bytes)_per_s value=(\S+)", line)
    if m:
        series.setdefault((m[1], m[3]), {}).setdefault(int(m[2]), []).append(float(m[4]))
fig, (items, data) = plt.subplots(1, 2, figsize=(11, 4.2))
for place, label in (("disk", "data directory on disk"), ("shm", "data directory in /dev/shm")):
    for axis, kind, scale in ((items, "items", 1e6), (data, "bytes", 1e9)):
        points = sorted((size, sorted(values)[len(values) // 2]) for size, values in series.get((place, kind), {}).items())
        axis.plot([p[0] for p in points], [p[1] / scale for p in points], marker="o", label=label)
for axis, title in ((items, "million items/s"), (data, "GB/s")):
    axis.set_xscale("log", base=2)
    axis.set_xlabel("item size (bytes)")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()
fig.suptitle("cbuff: lossless transfer between two processes, one item per push and pop (medians)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print("# wrote " + sys.argv[2], file=sys.stderr)
PY
