"""Python's own fuzzing of the format readers (hypothesis): the ring file (header, counters,
named-reader records, message records), the registry row, and field layouts in JSON. Every
reader ends in a value or a cbuff error, whatever it is given. The corpus in ``fuzz_corpus/``
is replayed case by case first; then hypothesis generates new cases, derandomized (a fixed seed,
so CI is reproducible: it prints the failing case's JSON, which goes into the corpus once
fixed). ``python/fuzz.py`` runs longer campaigns."""
import json
import os
import pathlib
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cbuff import _format as F
from cbuff import _registry
from cbuff.errors import Corrupted, InvalidArgument

import fuzzing

CORPUS = pathlib.Path(__file__).parent / "fuzz_corpus"
EXAMPLES = int(os.environ.get("CBUFF_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder():
    path = tempfile.mkdtemp(prefix="cbuff-py-fuzz-")
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("name,case", fuzzing.load_corpus(CORPUS), ids=[n for n, _ in fuzzing.load_corpus(CORPUS)])
def test_the_corpus_replays(name, case, folder):
    outcome = fuzzing.exercise(case, folder)
    if "expect" in case:
        assert outcome == case["expect"], (name, outcome)


# Where damage is worth aiming: line 0 (geometry), lines 1-5 (times, the writer, counters,
# waiting, the message tail), the item description, the reader table, the first slots/records.
REGIONS = st.one_of(st.integers(0, 63), st.integers(64, 383), st.integers(384, 1023), st.integers(1024, 4095),
                    st.integers(4096, 4096 + 4095))
WRITES = st.lists(st.tuples(REGIONS, st.binary(min_size=1, max_size=8).map(bytes.hex)), min_size=1, max_size=6)
CASES = st.fixed_dictionaries({"base": st.sampled_from(fuzzing.BASES), "writes": WRITES,
                               "truncate": st.one_of(st.none(), st.none(), st.integers(0, 9000))})


@FUZZ
@given(case=CASES)
def test_damaged_ring_files_end_in_a_value_or_a_cbuff_error(case, folder):
    try:
        fuzzing.exercise(case, folder)
    except Exception:
        print("failing case:", json.dumps(case))
        raise


# Counter-shaped damage: whole aligned words of the header set to values near the edges.
EDGES = st.sampled_from([0, 1, 2, 3, 7, 8, 511, 512, 513, 4096, 2**32 - 1, 2**32, 2**62, F.MAX_COUNT - 1, F.MAX_COUNT,
                         F.MAX_COUNT + 1, 2**64 - 1])
WORDS = st.sampled_from([128, 176, 192, 256, 264, 320, 328, 336, 344, 1024, 1032, 1088, 1152, 4096, 4104, 4112])


@FUZZ
@given(base=st.sampled_from(fuzzing.BASES), words=st.lists(st.tuples(WORDS, EDGES), min_size=1, max_size=4))
def test_counters_at_their_edges_end_in_a_value_or_a_cbuff_error(base, words, folder):
    case = {"base": base, "writes": [[offset, value.to_bytes(8, "little").hex()] for offset, value in words]}
    try:
        fuzzing.exercise(case, folder)
    except Exception:
        print("failing case:", json.dumps(case))
        raise


@FUZZ
@given(header=st.binary(min_size=0, max_size=1100), size=st.integers(0, 1 << 41))
def test_any_header_bytes_are_a_layout_or_corrupted(header, size):
    try:
        F.Layout.validate(header, size, "fuzzed")
    except Corrupted:
        pass


VALUES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=20),
                   st.binary(max_size=8), st.sampled_from(["items", "messages", "overwrite", "block", "b", "b.ring",
                                                           "2026-12-07T06:00:00.000Z", '[{"name":"a","type":"u64","offset":0}]']))
COLUMNS = ["name", "item_size", "length", "policy", "file", "format_version", "item_alignment", "type_name", "fields",
           "kind", "capacity", "max_message", "created_at", "writer_pid", "writer_start_time", "writer_since",
           "ring_created_ns"]
SOUND_ROW = {"name": "b", "item_size": 8, "length": 16, "policy": "overwrite", "file": "b.ring", "format_version": 2,
             "item_alignment": None, "type_name": None, "fields": None, "kind": "items", "capacity": None,
             "max_message": None, "created_at": "2026-12-07T06:00:00.000Z", "writer_pid": None,
             "writer_start_time": None, "writer_since": None, "ring_created_ns": 1}


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(COLUMNS), VALUES, max_size=5))
def test_any_registry_row_is_a_row_or_corrupted(changes):
    try:
        _registry.Row({**SOUND_ROW, **changes})
    except Corrupted:
        pass


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                                                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["name", "type", "offset", "x"]), children, max_size=4),
                                                           max_leaves=12).map(json.dumps)))
def test_any_fields_json_is_a_layout_or_invalid(text):
    try:
        F.FieldLayout.from_json(text)
    except InvalidArgument:
        pass


def test_the_harness_lets_any_other_exception_through(folder, monkeypatch):
    """What is not a cbuff error fails the fuzzing tests (so a green run means something)."""
    def broken(*arguments, **keywords):
        raise ValueError("not a cbuff error")
    monkeypatch.setattr(fuzzing.R.RingFile, "open", broken)
    with pytest.raises(ValueError):
        fuzzing.exercise({"base": "items", "writes": []}, folder)
