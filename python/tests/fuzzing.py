"""The format readers under fuzzing: one case is a ring file of a known kind (``items``,
``fields``, ``messages`` (format version 3: records without a check word), ``messages-v4``
(version 4: a CRC-32 in each record), built by this package with some history: wrapped, a named reader),
damaged by byte writes at chosen offsets and an optional truncation, then opened, read to the
end by an anonymous and a named reader's cursor, and written once by a writer taking it over.
Whatever the bytes, each step must end in a value or a ``cbuff.CBuffError``: never another
exception, a crash or a hang.

Cases are plain JSON ({"base", "writes": [[offset, hex]], "truncate"}), so a corpus of them
(``fuzz_corpus/``) is replayed by the tests as it is, and ``python/fuzz.py`` runs long
campaigns that add what they find to it."""
import json
import os
import shutil
import tempfile

from cbuff import _format as F
from cbuff import _ring as R
from cbuff import _system as S
from cbuff.errors import CBuffError

BASES = ("items", "fields", "messages", "messages-v4")
_built = {}


def base_file(kind):
    """The bytes of a sound ring file of ``kind`` with some history, built once per process."""
    if kind not in _built:
        folder = tempfile.mkdtemp(prefix="cbuff-py-fuzz-base-")
        try:
            trust = S.DirectoryTrust(folder, None, os.geteuid())
            if kind.startswith("messages"):
                layout = F.Layout.message_ring(4096, 100, F.POLICY_OVERWRITE, version=4 if kind == "messages-v4" else 3)
            elif kind == "fields":
                fields = F.FieldLayout.parse("time:u64,sym:char8,qty:u32")
                layout = F.Layout.items(fields.size, 8, F.POLICY_BLOCK, fields=fields)
            else:
                layout = F.Layout.items(8, 16, F.POLICY_OVERWRITE)
            file = R.RingFile.create(trust, "base.ring", layout)
            file.attach_writer()
            if kind.startswith("messages"):
                publisher = R.MessagePublisher(file)
                for n in range(150):                      # wraps the 512-word area several times
                    publisher.publish(b"m" * (n % 90))
            elif kind == "fields":
                file.claim_reader("slow", "base", 1.0, lambda: (0, None))
                publisher = R.SlotPublisher(file)
                publisher.publish([bytes(range(i, i + 24)) for i in range(6)])
            else:
                file.claim_reader("r", "base", 1.0, lambda: (20, None))
                publisher = R.SlotPublisher(file)
                publisher.publish_words(__import__("array").array("Q", range(40)))
                file.commit(0, 30)
            file.detach_writer()
            file.close()
            with open(os.path.join(folder, "base.ring"), "rb") as f:
                _built[kind] = f.read()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _built[kind]


def exercise(case, folder):
    """Runs one case in ``folder`` (an empty private directory): returns the outcome, a short
    string ("read N", "corrupted", ...); raises whatever is not a ``CBuffError``."""
    data = bytearray(base_file(case["base"]))
    for offset, text in case.get("writes", []):
        patch = bytes.fromhex(text)
        offset = min(offset, len(data))
        data[offset:offset + len(patch)] = patch
    if case.get("truncate") is not None:
        data = data[:case["truncate"]]
    path = os.path.join(folder, "case.ring")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    trust = S.DirectoryTrust(folder, None, os.geteuid())
    outcomes = []
    for step in ("read", "named", "write"):
        try:
            outcomes.append(_step(trust, step))
        except CBuffError as error:
            outcomes.append(error.code)
    os.unlink(path)
    return " ".join(outcomes)


def _step(trust, step):
    file = R.RingFile.open(trust, "case.ring", writable=True)
    try:
        messages = file.layout.messages
        if step == "write":
            if not file.try_lock_writer():
                return "busy"
            file.attach_writer()
            if messages:
                R.MessagePublisher(file).publish(b"fuzz", timeout=0)
            else:
                R.SlotPublisher(file).publish([b"\x01"], timeout=0)
            file.detach_writer()
            return "wrote"
        if step == "named":
            names = [entry[1] for entry in file.readers()]
            if not names:
                return "no reader"
            index = next(entry[0] for entry in file.readers() if entry[1] == names[0])
            committed = file.committed(index)
            cursor = R.MessageCursor(file, committed=committed) if messages else R.SlotCursor(file, committed[0])
        else:
            cursor = R.MessageCursor(file, "oldest") if messages else R.SlotCursor(file, "oldest")
        count = 0
        for _ in range(100_000):
            found = cursor.read() if messages else cursor.read(64)
            if not found:
                return f"read {count}"
            count += 1 if messages else len(found)
        raise AssertionError("a reader did not reach the end of a ring in 100,000 reads")
    finally:
        file.close()


def load_corpus(folder):
    """(name, case) of every case in ``folder``."""
    cases = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                cases.append((name[:-5], json.load(f)))
    return cases
