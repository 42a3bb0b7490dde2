"""The peers benchmark (benchmarks/peers.py) runs, with tiny counts: cbuff alone always (it needs
no other package), and beside iceoryx2, faster-fifo and multiprocessing.Queue when those are
installed (CI does not install them; benchmarks/peers.sh does)."""
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"
LINE = re.compile(r"bench=peers_(\w+) metric=(\w+) value=(\S+) unit=(\S+)\Z")


def run(peers):
    done = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "2", "--scale", "0.005", "--peers", peers],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    table = lines.index("") if "" in lines else len(lines)
    figures = {}
    for line in lines[:table]:
        match = LINE.match(line)
        assert match, line
        figures[match.group(1), match.group(2)] = float(match.group(3))
    assert any(line.startswith("case ") for line in lines[table:]), done.stdout
    return figures


def check(figures, peers):
    cases = ["item8", "batch", "payload64", "payload4k", "pingpong_busy", "pingpong_block"]
    if importlib.util.find_spec("numpy") is not None:
        cases.append("batch_numpy")
    for case in cases:
        metric = "round_trip_us" if case.startswith("pingpong") else "items_per_s"
        for peer in peers:
            if peer == "cbuff_msg" and case.startswith("batch"):
                continue
            assert figures[f"{case}_{peer}", metric] > 0
            assert figures[f"{case}_{peer}", "cpu_a_core"] >= 0 and figures[f"{case}_{peer}", "cpu_b_core"] >= 0
        assert figures[f"{case}_cbuff", "ratio_to_cbuff"] == 1


def test_the_peers_benchmark_runs_for_cbuff_alone():
    check(run("cbuff,cbuff_msg"), ["cbuff", "cbuff_msg"])


def test_the_peers_benchmark_runs_beside_the_peers():
    for module, package in (("iceoryx2", "iceoryx2"), ("faster_fifo", "faster-fifo")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{package} is not installed (pip install iceoryx2 faster-fifo; python/benchmarks/peers.sh does it in a venv of its own)")
    check(run("cbuff,iceoryx2,faster_fifo,mpqueue"), ["cbuff", "iceoryx2", "faster_fifo", "mpqueue"])
