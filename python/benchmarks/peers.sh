#!/usr/bin/env bash
# Runs python/benchmarks/peers.py in a virtual environment of its own under $TMPDIR (made, then
# removed), with the peers from PyPI: `pip install iceoryx2 faster-fifo numpy ./python`. Any
# arguments go to peers.py (--rounds 7, --scale 1, --cases ..., --peers ...). Nothing else is
# installed; data goes to /dev/shm (cbuff) and iceoryx2's own /dev/shm and /tmp/iceoryx2.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="$(mktemp -d "${TMPDIR:-/tmp}/cbuff-peers-venv-XXXXXX")"
trap 'rm -rf "$venv" python/build python/src/*.egg-info' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check iceoryx2 faster-fifo numpy ./python
"$venv/bin/python" -c 'import importlib.metadata as m; print("peers.sh: " + ", ".join(p + " " + m.version(p) for p in ("iceoryx2", "faster-fifo", "numpy")), flush=True)' >&2
"$venv/bin/python" python/benchmarks/peers.py "$@"
