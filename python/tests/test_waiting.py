"""Sleepers that die in their sleep stop costing their wakers (RingFileFormat.md, "Waiting"):
real processes, Python and Swift, killed with SIGKILL while asleep on the futex; the waker's
wake calls are counted (``_system.wake_calls`` here, the agent's own count in Swift)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from cbuff import _system

from conftest import swift_binary

SLEEPER = textwrap.dedent("""
    import cbuff, sys
    reader = cbuff.DataDirectory(sys.argv[1]).open_reader(sys.argv[2], start="latest")
    print("ready", flush=True)
    for _ in range(int(sys.argv[3])):
        print("got", reader.pop(timeout=600), flush=True)
""")

BLOCKED_WRITER = textwrap.dedent("""
    import cbuff, sys
    writer = cbuff.DataDirectory(sys.argv[1]).take_over(sys.argv[2])
    writer.push_many(range(int(sys.argv[3])))
""")


def python(*arguments):
    return subprocess.Popen([sys.executable, "-c", *arguments], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def asleep_on_a_futex(process):
    """Whether the kernel reports ``process`` asleep in a futex wait within 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{process.pid}/wchan") as f:
            if "futex" in f.read():
                return True
        time.sleep(0.001)
    return False


def sleepers(directory, name, count, rounds=1):
    """``count`` readers of ``name`` asleep in pop(timeout=600): Python ones and a Swift one."""
    started = []
    for index in range(count):
        if index == 0:
            started.append(subprocess.Popen([swift_binary("cbuff-test-agent"), "wait-pop", directory.path, name, "600000", str(rounds)],
                                            stdout=subprocess.PIPE))
        else:
            started.append(python(SLEEPER, directory.path, name, str(rounds)))
    for process in started:
        assert process.stdout.readline().strip() == b"ready"
        assert asleep_on_a_futex(process), "a reader never went to sleep"
    return started


def kill(processes):
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_readers_killed_in_their_sleep_cost_a_python_writer_one_wake_call_at_most(directory):
    writer = directory.create_buffer("dead", item_size=8, length=1024)
    kill(sleepers(directory, "dead", 3))
    before = _system.wake_calls
    for value in range(10_000):
        writer.push(value)
    writer.push_many(range(10_000))
    assert _system.wake_calls - before <= 1
    writer.close()


def test_a_live_sleeper_is_woken_by_a_python_writer_after_its_peers_died(directory):
    writer = directory.create_buffer("survivor", item_size=8, length=1024)
    doomed = sleepers(directory, "survivor", 2)
    survivor = python(SLEEPER, directory.path, "survivor", "2")
    assert survivor.stdout.readline().strip() == b"ready"
    kill(doomed)
    for round in range(2):
        assert asleep_on_a_futex(survivor), f"round {round}: the survivor is not asleep"
        before = _system.wake_calls
        writer.push(round)
        assert survivor.stdout.readline().split() == [b"got", str(round).encode()]
        assert _system.wake_calls - before == 1, f"round {round}"
    assert survivor.wait(timeout=60) == 0
    writer.close()


def test_a_python_writer_killed_asleep_for_room_costs_readers_one_wake_call_at_most(directory):
    directory.create_buffer("full", item_size=8, length=1024, policy="block").close()
    directory.open_reader("full", reader="late").close()
    writer = python(BLOCKED_WRITER, directory.path, "full", "2000")
    assert asleep_on_a_futex(writer), "the writer never slept for room"
    kill([writer])
    # A Swift named reader's commits, counted by the agent, then a Python one's.
    done = subprocess.run([swift_binary("cbuff-test-agent"), "commit-count", directory.path, "full", "late"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done
    report = dict(field.split("=") for field in done.stdout.decode().split())
    assert report["popped"] == "1024" and int(report["wakes"]) <= 1, report


def test_a_swift_writer_killed_asleep_for_room_costs_a_python_reader_one_wake_call_at_most(directory):
    directory.create_buffer("full", item_size=8, length=1024, policy="block").close()
    directory.open_reader("full", reader="late").close()
    writer = subprocess.Popen([swift_binary("cbuff-test-agent"), "write", directory.path, "full", "2000"], stdout=subprocess.PIPE)
    assert asleep_on_a_futex(writer), "the writer never slept for room"
    kill([writer])
    reader = directory.open_reader("full", reader="late")
    before = _system.wake_calls
    popped = 0
    while reader.pop() is not None:
        popped += 1
    reader.commit()
    assert popped == 1024 and _system.wake_calls - before <= 1
    reader.close()


# --- The writer's acknowledgement (bit 30 of `waiters`) and coalescing followers -------------

WAKE_BITS = 0xC000_0000       # bits 31 ("wake me") and 30 ("the writer acknowledged")


def waiters(directory, name):
    with open(directory.ring_path(name), "rb") as f:
        f.seek(196)
        return int.from_bytes(f.read(4), "little")


def test_a_python_writer_acknowledges_so_a_swift_follower_sleeps_without_the_barrier(directory):
    writer = directory.create_buffer("ack", item_size=8, length=1024)
    follower = subprocess.Popen([swift_binary("cbuff-test-agent"), "follow-cost", directory.path, "ack", "5"], stdout=subprocess.PIPE)
    assert follower.stdout.readline().strip() == b"ready"
    for value in range(5):
        assert asleep_on_a_futex(follower), f"round {value}: the follower is not asleep"
        writer.push(value)
        assert follower.stdout.readline().split() == [b"got", str(value).encode()]
    report = dict(field.split(b"=") for field in follower.stdout.readline().split())
    assert follower.wait(timeout=60) == 0
    # One barrier when it first asks, perhaps one more (woken, it may run before the writer's
    # first acknowledgement); from then on it finds both bits set: not one per sleep.
    assert int(report[b"barriers"]) <= 2 and int(report[b"sleeps"]) >= 5, report
    writer.close()


COUNTING_FOLLOWER = textwrap.dedent("""
    import cbuff, sys
    from cbuff import _system
    barriers = [0]
    real_barrier = _system.global_barrier

    def counted():
        barriers[0] += 1
        real_barrier()
    _system.global_barrier = counted
    reader = cbuff.DataDirectory(sys.argv[1]).open_reader(sys.argv[2], start="latest")
    print("ready", flush=True)
    for _ in range(int(sys.argv[3])):
        print("got", reader.pop(timeout=30), barriers[0], flush=True)
""")


def test_a_python_follower_of_a_swift_writer_sleeps_without_the_barrier_once_acknowledged(directory):
    directory.create_buffer("ack2", item_size=8, length=1024).close()
    follower = python(COUNTING_FOLLOWER, directory.path, "ack2", "5")
    assert follower.stdout.readline().strip() == b"ready"
    pusher = subprocess.Popen([swift_binary("cbuff-test-agent"), "wake-count", directory.path, "ack2"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    barriers = []
    try:
        for value in range(5):
            assert asleep_on_a_futex(follower), f"round {value}: the follower is not asleep"
            pusher.stdin.write(b"push 1\n")
            pusher.stdin.flush()
            assert pusher.stdout.readline().startswith(b"wakes=")
            got, value, count = follower.stdout.readline().split()
            assert (got, value) == (b"got", b"0")
            barriers.append(int(count))
    finally:
        pusher.stdin.close()
        pusher.wait(timeout=60)
    # Barriers while it first asks (one per 50 ms slice until the writer's first answer), and
    # perhaps once more (woken, it may run before the writer's acknowledgement); from then on it
    # finds both bits set and sleeps without one.
    assert barriers[0] >= 1 and barriers[-1] == barriers[1], barriers
    assert follower.wait(timeout=60) == 0


def test_a_python_writer_clears_an_acknowledgement_nobody_sleeps_under(directory):
    writer = directory.create_buffer("stale", item_size=8, length=1024)
    # What a current writer leaves when its acknowledged followers then stopped following.
    writer._file.d[196 // 4] = WAKE_BITS
    before = _system.wake_calls
    for value in range(100):
        writer.push(value)
    assert _system.wake_calls - before <= 2 and waiters(directory, "stale") == 0
    writer.close()


COALESCING_FOLLOWER = textwrap.dedent("""
    import cbuff, sys
    reader = cbuff.DataDirectory(sys.argv[1]).open_reader(sys.argv[2], start="latest")
    print("ready", flush=True)
    for sequence, value in reader.follow(timeout=60, coalesce=float(sys.argv[3])):
        print("got", value, flush=True)
        break
""")


def in_a_timed_sleep(process):
    """Whether the kernel reports ``process`` in a plain timed sleep (not a futex) within 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{process.pid}/wchan") as f:
            if "nanosleep" in f.read():
                return True
        time.sleep(0.001)
    return False


def test_a_coalescing_follower_costs_the_writer_no_wake_call(directory):
    writer = directory.create_buffer("calm", item_size=8, length=1024)
    follower = python(COALESCING_FOLLOWER, directory.path, "calm", "2.0")
    assert follower.stdout.readline().strip() == b"ready"
    assert in_a_timed_sleep(follower), "the follower never slept without asking to be woken"
    before = _system.wake_calls
    writer.push(7)
    assert _system.wake_calls == before and waiters(directory, "calm") == 0
    assert follower.stdout.readline().split() == [b"got", b"7"]     # within the 2 s it chose
    assert follower.wait(timeout=60) == 0
    writer.close()


def test_a_removal_by_python_ends_idle_swift_event_sequences_at_once(directory):
    """Idle event sequences sleep until something happens (no periodic look at the file), so
    a removal has to wake them: Python's ``remove`` does, after the unlink, and the agent's
    sequences end at once instead of at their own look 10 s later (``RingAnnouncement``)."""
    directory.create_buffer("announced", item_size=8, length=64).close()
    agent = subprocess.Popen([swift_binary("cbuff-test-agent"), "idle-waiters", directory.path, "announced", "4", "100", "events"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert agent.stdout.readline().startswith(b"switches=")
        agent.stdin.write(b"removed\n")
        agent.stdin.flush()
        directory.remove("announced")
        ended = agent.stdout.readline().decode().split()
        assert ended[:2] == ["ended", "4"] and int(ended[2].split("=")[1]) < 3_000, ended
        assert agent.wait(timeout=30) == 0
    finally:
        agent.kill()
        agent.wait()


def test_a_waker_the_kernel_would_not_register_fences_before_it_looks_for_sleepers(directory, monkeypatch):
    """Without membarrier a waker must order its progress before its load of the request word
    itself (RingFileFormat.md, "Waiting"), as sleepers whose barrier ran sleep long: every
    publish and every named reader's commit fences then, and none does otherwise."""
    writer = directory.create_buffer("fenced", item_size=8, length=64)
    reader = directory.open_reader("fenced", reader="fenced-reader")
    before = _system.fence_calls
    writer.push(1)
    assert reader.pop() == 1
    assert _system.fence_calls == before
    monkeypatch.setattr(_system, "WAKER_FENCE", True)
    writer.push(2)                  # one publish
    writer.push_many([3, 4])        # one more
    assert reader.pop() == 2        # commits 1
    assert reader.pop() == 3        # commits 2
    assert _system.fence_calls == before + 4
    reader.close()
    writer.close()


@pytest.mark.parametrize("kind", ["items", "messages"])
def test_a_follower_ends_when_its_buffer_is_removed_and_no_writer_can_push(directory, kind):
    """The Swift side's events() and `tail --follow` end once the buffer was removed and its
    writer is gone; Python's follow() ends too (it used to wait on for good)."""
    if kind == "items":
        writer = directory.create_buffer("gone", item_size=8, length=8)
    else:
        writer = directory.create_buffer("gone", messages=True, capacity=4096, max_message=100)
    writer.close()
    reader = directory.open_reader("gone")
    ended = threading.Event()

    def follow():
        for _ in reader.follow():
            pass
        ended.set()
    thread = threading.Thread(target=follow)
    thread.start()
    directory.remove("gone")
    assert ended.wait(15), "follow() did not end after the buffer was removed"
    thread.join()


def test_a_follower_keeps_its_reader_alive(directory):
    """``for x in directory.open_reader(name).follow()`` keeps no other reference to the reader:
    the iteration must (a collected reader closed its file under the follower)."""
    import gc
    with directory.create_buffer("kept", item_size=8, length=8) as writer:
        writer.push(1)
        writer.push(2)
    follower = directory.open_reader("kept").follow(timeout=0)
    gc.collect()
    assert [item for _, item in follower] == [1, 2]
