#!/usr/bin/env bash
# Writes every ```swift block of README.md and the DocC catalog into Examples/Generated/NAME/main.swift
# (NAME: the document and the block's number), for Examples/Package.swift to build as written.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf Examples/Generated
mkdir -p Examples/Generated
for document in README.md Sources/SharedRing/SharedRing.docc/*.md; do
    base=$(basename "$document" .md | tr -c 'A-Za-z0-9\n' '_')
    awk -v dir="Examples/Generated" -v base="$base" '
        /^```swift[[:space:]]*$/ { n++; name = sprintf("%s_%d", base, n); system("mkdir -p " dir "/" name); file = dir "/" name "/main.swift"; inside = 1; next }
        /^```[[:space:]]*$/ && inside { inside = 0; close(file); next }
        inside { print > file }
    ' "$document"
done
ls Examples/Generated
