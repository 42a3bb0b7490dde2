"""A fuzzing campaign over the format readers, longer than the tests' (python/tests/test_fuzz.py):
random damage to each kind of ring file (python/tests/fuzzing.py says what one case does), from a
seed printed first. A case whose outcome is new for its kind of file joins the corpus the tests
replay (python/tests/fuzz_corpus/, with its outcome as the expected one); a case that ends in
anything but a cbuff error is saved as finding-*.json there and reported.

    python3 python/fuzz.py [SECONDS] [SEED]          (default 60 s, a random seed)
"""
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tests"))
import fuzzing  # noqa: E402

CORPUS = os.path.join(HERE, "tests", "fuzz_corpus")
EDGES = [0, 1, 2, 3, 7, 8, 511, 512, 513, 4096, 2**32 - 1, 2**32, 2**62, 2**63 - 2, 2**63 - 1, 2**63, 2**64 - 1]


def random_case(rng):
    writes = []
    for _ in range(rng.randint(1, 6)):
        region = rng.choice([(0, 63), (64, 383), (384, 1023), (1024, 4095), (4096, 8191)])
        if rng.random() < 0.4:
            offset = rng.randrange(region[0], region[1] + 1) & ~7
            writes.append([offset, rng.choice(EDGES).to_bytes(8, "little").hex()])
        else:
            writes.append([rng.randint(*region), bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8))).hex()])
    truncate = rng.randint(0, 9000) if rng.random() < 0.1 else None
    return {"base": rng.choice(fuzzing.BASES), "writes": writes, "truncate": truncate}


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(1 << 32)
    print(f"seed {seed}, {seconds:g} s", flush=True)
    rng = random.Random(seed)
    known = {(case["base"], case.get("expect")) for _, case in fuzzing.load_corpus(CORPUS)}
    folder = tempfile.mkdtemp(prefix="cbuff-py-fuzz-")
    os.chmod(folder, 0o700)
    runs = findings = added = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            case = random_case(rng)
            runs += 1
            try:
                outcome = fuzzing.exercise(case, folder)
            except Exception:
                findings += 1
                name = "finding-" + hashlib.sha1(json.dumps(case).encode()).hexdigest()[:12]
                with open(os.path.join(CORPUS, name + ".json"), "w") as f:
                    json.dump(case, f)
                print(f"FINDING {name}: {json.dumps(case)}\n{traceback.format_exc()}", flush=True)
                for entry in os.listdir(folder):
                    os.unlink(os.path.join(folder, entry))
                continue
            if (case["base"], outcome) not in known:
                known.add((case["base"], outcome))
                case["expect"] = outcome
                name = f"{case['base']}-" + hashlib.sha1(json.dumps(case).encode()).hexdigest()[:12]
                with open(os.path.join(CORPUS, name + ".json"), "w") as f:
                    json.dump(case, f)
                added += 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{runs} cases, {findings} findings, {added} added to the corpus", flush=True)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
