#!/usr/bin/env bash
# The cbuff(1) man page, generated from the commands by swift-argument-parser's GenerateManual
# plugin, without the demo's hidden helper commands (the plugin lists every subcommand, hidden or
# not). Writes .build/man/cbuff.1; view it with `man -l .build/man/cbuff.1`. Examples/check.sh
# runs it and checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package plugin generate-manual --configuration debug >/dev/null
mkdir -p .build/man
awk '
    /^\.It Em demo-(writer|reader)$/ { skip = 1; depth = 0; next }
    skip { if ($0 ~ /^\.Bl/) depth++; else if ($0 ~ /^\.El/ && --depth == 0) skip = 0; next }
    { print }
' .build/plugins/GenerateManual/outputs/cbuff/cbuff.1 > .build/man/cbuff.1
! grep -q "demo-writer\|demo-reader" .build/man/cbuff.1
for command in create push pop tail list inspect rm reader top dir demo; do
    grep -q "^\.It Em $command$" .build/man/cbuff.1 || { echo "the man page lacks $command" >&2; exit 1; }
done
echo ".build/man/cbuff.1"
