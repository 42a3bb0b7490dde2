#!/usr/bin/env bash
# Builds the Swift check (release), times it, and counts what the Swift loops' machine code does
# per iteration: crc32 instructions inlined, or calls.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release >&2
bin=.build/release/crc-from-swift
"$bin" "${1:-100000000}" "${2:-7}"
for f in LoopAsm LoopBuiltin; do
    sym=$(nm "$bin" | awk -v f="$f" '$3 ~ f"ys6UInt64VADF$" && !s { print $3; s = 1 }')   # no early exit: pipefail would see nm's SIGPIPE
    body=$(objdump -d --no-show-raw-insn "$bin" --disassemble="$sym" | sed -n '/>:$/,$p')
    printf 'bench=swift%s_loop metric=crc32_instructions value=%s unit=count\n' "$f" "$(grep -c 'crc32' <<<"$body" || true)"
    printf 'bench=swift%s_loop metric=calls value=%s unit=count\n' "$f" "$(grep -c 'call' <<<"$body" || true)"
    printf 'bench=swift%s_loop metric=instructions value=%s unit=count\n' "$f" "$(grep -cE '^ +[0-9a-f]+:' <<<"$body" || true)"
done
