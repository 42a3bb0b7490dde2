#!/usr/bin/env bash
# Every test of the repository: the package's tests (`swift test`), then the client programs of
# Examples/ built as a user's package would build them (every Swift snippet of the README and the
# DocC catalog among them) and the seed library's session run against a fresh data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test
bash Examples/extract-snippets.sh
swift build --package-path Examples
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
CBUFF_DIR="$data" swift run --package-path Examples --skip-build SeedSession
