#!/usr/bin/env bash
# The Python package's tests, as a user installs it: a fresh virtual environment, `pip install
# ./python` (plus pytest and numpy for the tests), then pytest against the Swift build's binaries
# (`swift build` first; `swift test` has built them). Part of the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/cbuff-python-venv-$$"
trap 'rm -rf "$venv" python/build python/src/*.egg-info' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check ./python pytest numpy
swift build --product cbuff >/dev/null
swift build --product cbuff-test-agent >/dev/null
CBUFF_BIN_DIR="$PWD/.build/debug" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
