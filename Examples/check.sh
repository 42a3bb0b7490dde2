#!/usr/bin/env bash
# The client programs of Examples/, built as a user's package would build them: every Swift
# snippet of the README and the DocC catalog among them (so the code shown compiles), and the
# seed library's session run against a fresh data directory. The second half of the README's
# test command, after `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Examples/extract-snippets.sh
swift build --package-path Examples
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
CBUFF_DIR="$data" swift run --package-path Examples --skip-build SeedSession
