"""Sleepers that die in their sleep stop costing their wakers (RingFileFormat.md, "Waiting"):
real processes, Python and Swift, killed with SIGKILL while asleep on the futex; the waker's
wake calls are counted (``_system.wake_calls`` here, the agent's own count in Swift)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

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
