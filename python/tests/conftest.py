import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def swift_binary(name):
    """The Swift build's executable (``$CBUFF_BIN_DIR``, else the repository's .build/debug)."""
    folder = pathlib.Path(os.environ.get("CBUFF_BIN_DIR", REPOSITORY / ".build" / "debug"))
    path = folder / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build the Swift package first (swift build), or set CBUFF_BIN_DIR")
    return str(path)


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="cbuff-py-")
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def directory(data_dir):
    import cbuff
    return cbuff.DataDirectory(os.path.join(data_dir, "d"))


@pytest.fixture
def cbuff_cli(data_dir):
    """Runs ``cbuff --dir DIR/d ARGS...``: (status, stdout, stderr)."""
    binary = swift_binary("cbuff")

    def run(*arguments, input=None):
        done = subprocess.run([binary, "--dir", os.path.join(data_dir, "d"), *arguments], input=input,
                              capture_output=True, timeout=120)
        return done.returncode, done.stdout.decode(), done.stderr.decode()
    return run
