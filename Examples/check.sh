#!/usr/bin/env bash
# The documentation, checked: the client programs of Examples/, built as a user's package would
# build them, every Swift snippet of the README and the DocC catalog among them (so the code
# shown compiles); the seed library's session run against a fresh data directory; and the DocC
# catalog built. The second half of the README's test command, after `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Examples/extract-snippets.sh
swift build --package-path Examples
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
CBUFF_DIR="$data" swift run --package-path Examples --skip-build SeedSession
# The man page, generated from the commands, without the demo's hidden helpers.
bash docs/man-page.sh >/dev/null
# The DocC catalog builds with every symbol link resolved and every parameter documented
# (warnings are errors). swift-docc-plugin is a dependency only under CBUFF_DOCS=1 (Package.swift).
CBUFF_DOCS=1 swift package generate-documentation --target SharedRing --warnings-as-errors
