#!/usr/bin/env bash
# Builds the C benchmark (gcc -O2), self-tests it, times it (11 alternated rounds), counts instructions.
set -euo pipefail
cd "$(dirname "$0")"
gcc -O2 -Wall -Wextra -o cbench cbench.c
./cbench check
./cbench time 11 20000000 | tee c_time.txt
./callgrind.sh | tee cg_results.txt
