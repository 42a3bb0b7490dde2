"""The hostile-file conformance corpus (Tests/HostileFiles/corpus.json), run against the Python
package: the same cases the cbuff tool runs (Tests/CLITests/HostileFileCorpusTests.swift), each
ending with the error whose code maps to the expected exit status, never another exception, a
crash or a hang. Every case agrees with Swift: there is no list of known gaps."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

import pytest

import cbuff

from conftest import REPOSITORY, swift_binary

CORPUS = json.loads((REPOSITORY / "Tests" / "HostileFiles" / "corpus.json").read_text())

# The exit status each code maps to: the cbuff tool's (docs/cli.md, "Exit status").
STATUS = {
    "notFound": 66, "bufferAlreadyCreated": 73, "writerBusy": 75, "readerBusy": 75, "timedOut": 75,
    "corrupted": 65, "valueDoesNotFit": 65, "typeMismatch": 65, "invalidArgument": 64, "permissionDenied": 77,
}

@pytest.fixture(scope="module")
def base():
    """The base data directory every case copies, built once with the cbuff tool."""
    folder = tempfile.mkdtemp(prefix="cbuff-py-corpus-")
    os.chmod(folder, 0o700)
    path = os.path.join(folder, "d")
    binary = swift_binary("cbuff")
    steps = [
        ["create", "items", "--item-size", "8", "--length", "16"],
        ["push", "items", *[str(n) for n in range(1, 21)]],
        ["pop", "items", "--reader", "r", "-n", "2"],
        ["create", "messages", "--messages", "--capacity", "4096", "--max-message", "64"],
        ["push", "messages", *[f"message {n}" for n in range(1, 6)]],
        ["create", "fields", "--fields", "time:u64,qty:u32", "--length", "8"],
        ["push", "fields", '{"time":1,"qty":2}', '{"time":3,"qty":4}'],
    ]
    for arguments in steps:
        done = subprocess.run([binary, "--dir", path, *arguments], capture_output=True, timeout=60)
        assert done.returncode == 0, (arguments, done)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def file_path(name, directory, buffer):
    return {"ring": os.path.join(directory, buffer + ".ring"), "registry": os.path.join(directory, "registry.sqlite"),
            "dir": directory}.get(name, os.path.join(directory, name))


def apply(step, directory, buffer):
    def at(name):
        return file_path(name or "ring", directory, buffer)
    if "write" in step:
        with open(at(step.get("file")), "r+b") as handle:
            handle.seek(step.get("at", 0))
            handle.write(bytes.fromhex(step["write"]))
    elif "truncate" in step:
        os.truncate(at(step.get("file")), step["truncate"])
    elif "remove" in step:
        try:
            os.unlink(at(step["remove"]))
        except FileNotFoundError:
            pass
    elif "symlink" in step:
        os.symlink(step["to"], at(step["symlink"]))
    elif "link" in step:
        os.link(at(step["to"]), at(step["link"]))
    elif "fifo" in step:
        os.mkfifo(at(step["fifo"]), 0o600)
    elif "directory" in step:
        os.mkdir(at(step["directory"]), 0o700)
    elif "chmod" in step:
        os.chmod(at(step["chmod"]), int(step["mode"], 8))
    elif "age" in step:
        os.utime(at(step["age"]), (0, 0))    # last modified before this boot (1970)
    elif "sql" in step:
        connection = sqlite3.connect(os.path.join(directory, "registry.sqlite"))
        connection.execute("PRAGMA ignore_check_constraints=ON")
        connection.execute(step["sql"])
        connection.commit()
        connection.close()
    else:
        raise AssertionError(f"a step with no operation: {step}")


GEOMETRY = {"items": {"item_size": 8, "length": 16}, "messages": {"messages": True, "capacity": 4096, "max_message": 64},
            "fields": {"fields": "time:u64,qty:u32", "length": 8}}


def act(directory, buffer, action):
    """Reads every item or message of `buffer` by name, takes it over and pushes one, lists its
    named readers, or creates it again (the cbuff tool's tail, push, reader list, create)."""
    data = cbuff.DataDirectory(directory, lock_timeout=2.0)
    if action == "readers":
        assert isinstance(data.inspect(buffer).readers, tuple)
        return
    if action == "create":
        data.create_buffer(buffer, **GEOMETRY[buffer]).close()
        return
    if action == "write":
        writer = data.take_over(buffer)
        try:
            if isinstance(writer, cbuff.MessageWriter):
                writer.push_message(b"1")
            else:
                writer.push(1)
        finally:
            writer.close()
        return
    reader = data.open_reader(buffer)
    try:
        pop = reader.pop_message if isinstance(reader, cbuff.MessageReader) else reader.pop
        for _ in range(100_000):
            if pop() is None:
                break
    finally:
        reader.close()


def outcome(directory, buffer, action):
    """The status the action ends with, and the error's sentence ("" for none)."""
    try:
        act(directory, buffer, action)
        return 0, ""
    except cbuff.CBuffError as error:
        return STATUS.get(error.code, 1), str(error)


@pytest.mark.parametrize("case", CORPUS["cases"], ids=[case["name"] for case in CORPUS["cases"]])
def test_every_hostile_file_gets_the_status_swift_gives(case, base):
    folder = tempfile.mkdtemp(prefix="cbuff-py-case-")
    try:
        directory = os.path.join(folder, "d")
        shutil.copytree(base, directory, symlinks=True)
        os.chmod(directory, 0o700)
        for step in case["steps"]:
            apply(step, directory, case["buffer"])
        status, said = outcome(directory, case["buffer"], case.get("action", "read"))
        assert status == case["expect"], said
        assert case.get("says", "") in said
    finally:
        shutil.rmtree(folder, ignore_errors=True)
