#!/usr/bin/env bash
# Instructions per call: callgrind total Ir at N2 calls minus at N1 calls, divided by N2 - N1.
set -euo pipefail
cd "$(dirname "$0")"
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null ./cbench run "$1" "$2" 2>&1 | awk '/Collected :/ {print $4}'; }
for v in item_none item_crc32c_16 item_crc32c_v4 item_ieee_slice8_16 item_ieee_slice8_v4 item_ieee_pclmul_16 item_ieee_pclmul_v4 item_mx \
         msg64_crc32c msg64_ieee_slice8 msg64_ieee_pclmul msg64_mx msg1024_crc32c msg1024_ieee_slice8 msg1024_ieee_pclmul msg1024_mx; do
    n1=10000; n2=110000
    a=$(ir $v $n1); b=$(ir $v $n2)
    awk -v v=$v -v a=$a -v b=$b -v d=$((n2-n1)) 'BEGIN { printf "%-22s instructions_per_call=%.1f\n", v, (b-a)/d }'
done
