#!/usr/bin/env bash
# The Python package's checks, as a user installs it: a fresh virtual environment, `pip install
# ./python` (plus pytest, numpy and hypothesis for the tests, ruff and mypy for the code), then
# ruff, mypy --strict over both packages, and pytest against
# the Swift build's binaries (built here, unless CBUFF_BIN_DIR names a folder that has them). The fuzzing
# tests replay python/tests/fuzz_corpus/ and then run hypothesis derandomized (a fixed seed);
# CBUFF_FUZZ_EXAMPLES sets how many cases each generates (default 300). Part of the README's
# test command.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/cbuff-python-venv-$$"
trap 'rm -rf "$venv" python/build python/src/*.egg-info' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check ./python pytest numpy hypothesis ruff mypy
"$venv/bin/ruff" check --no-cache python
(cd python && "$venv/bin/mypy" --no-incremental --cache-dir=/dev/null src/cbuff src/shared_cbuff)
# An existing CBUFF_BIN_DIR (binaries built elsewhere, say another worktree's) is used as it is;
# otherwise this checkout's debug build, built first.
if [ -z "${CBUFF_BIN_DIR:-}" ]; then
    swift build --product cbuff >/dev/null
    swift build --product cbuff-test-agent >/dev/null
    CBUFF_BIN_DIR="$PWD/.build/debug"
fi
CBUFF_BIN_DIR="$CBUFF_BIN_DIR" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
