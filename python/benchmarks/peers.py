"""cbuff's Python package beside the other ways Python processes pass data on one host, two
processes each, run in alternation (the host flips between fast and slow states within seconds,
so each round runs every peer once per case, back to back, and the figures are medians over the
rounds and medians of each round's ratio to cbuff):

- ``cbuff``: this package (``block`` policy and a named reader: lossless);
- ``iceoryx2``: the PyPI package (Rust core), publish-subscribe with safe overflow off and
  ``RetryUntilDelivered`` back-pressure (lossless), an event service for blocking waits;
- ``faster_fifo``: the PyPI package (a C ring in shared memory, pickled objects);
- ``mpqueue``: the standard library's ``multiprocessing.Queue``.

The cases (each peer's best fit, said in each case's line):

- ``item8``: one 8-byte integer per call, lossless, the reader polling (cbuff ``push``/``pop``,
  iceoryx2 ``send_copy``/``receive`` of a ``c_uint64``, the queues' ``put``/``get``);
- ``batch``: integers in batches of ``BATCH`` (cbuff ``push_many`` of an ``array('Q')`` and
  ``pop_many``, a list of ints; iceoryx2 a ``Slice[c_uint64]`` loaned, filled with one copy, and
  read into a list; the queues' ``put_many``/``get_many`` or a list per ``put``);
- ``batch_numpy``: the same as numpy arrays in and out (cbuff ``push_many`` of a ``uint64``
  array and ``pop_array``; iceoryx2 the slice filled from the array and copied out with
  ``numpy.frombuffer(...).copy()``; the queues ``put``/``get`` of the array, pickled);
- ``payload64``, ``payload4k``: fixed-size byte payloads, one per call, one copy in and one copy
  out (cbuff: items of that size, bytes in and bytes out: its best fit for fixed-size payloads;
  its message buffers, which carry variable sizes, run as the extra peer ``cbuff_msg``;
  iceoryx2: a ``c_uint8 * SIZE`` sample loaned, ``memmove``d and read with ``string_at``);
- ``pingpong_busy``: round trips of one integer, both sides polling;
- ``pingpong_block``: round trips, both sides sleeping in the peer's blocking wait (cbuff
  ``pop(timeout=…)``, iceoryx2 ``Listener.timed_wait`` woken by a ``Notifier``, the queues'
  blocking ``get``), with the CPU each side used (``getrusage`` of each process over its timed
  part) as a fraction of a core and per round trip.

Output: lines ``bench=peers_CASE_PEER metric=M value=V unit=U`` (medians over the rounds, and
``metric=ratio_to_cbuff``: the median of each round's peer/cbuff ratio of the case's main
metric), then a table. Install the peers in a virtual environment first (``peers.sh`` does)::

    python3 -m venv "$TMPDIR/peers" && "$TMPDIR/peers/bin/pip" install iceoryx2 faster-fifo numpy ./python
    "$TMPDIR/peers/bin/python" python/benchmarks/peers.py [--rounds 7] [--scale 1] [--cases …] [--peers …]

A peer that is not installed is left out (said on stderr); ``--peers cbuff`` needs nothing else.
"""

import argparse
import array
import ctypes
import importlib.util
import itertools
import multiprocessing
import os
import queue
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

BATCH = 1000
# Items per run of each case for cbuff and iceoryx2; the queues, 10-30 times slower per item,
# move fewer (SLOW_SHARE of it) so that a run takes about as long.
COUNTS = {"item8": 200_000, "batch": 4_000_000, "batch_numpy": 10_000_000, "payload64": 200_000, "payload4k": 50_000,
          "pingpong_busy": 20_000, "pingpong_block": 5_000}
SLOW_SHARE = {"cbuff": 1.0, "cbuff_msg": 1.0, "iceoryx2": 1.0, "faster_fifo": 0.25, "mpqueue": 0.1}
# The queues polled without blocking (``get_nowait`` in a loop) stall for milliseconds at times.
SLOW_SHARE_OF = {("pingpong_busy", "faster_fifo"): 0.05, ("pingpong_busy", "mpqueue"): 0.05}
BATCHED = ("batch", "batch_numpy")
CASES = list(COUNTS)
PEERS = ["cbuff", "iceoryx2", "faster_fifo", "mpqueue", "cbuff_msg"]
PAYLOAD = {"payload64": 64, "payload4k": 4096}
RING_ITEMS = 4096           # slots of each ring / subscriber buffer / queue
WAIT_S = 1.0                # the blocking waits' timeout (a slice: they loop)
HIGHER_IS_BETTER = {"items_per_s": True, "round_trip_us": False}


def main_metric(case: str) -> Tuple[str, str]:
    if case.startswith("pingpong"):
        return "round_trip_us", "us"
    return "items_per_s", "items/s"


# --- Each peer's channel: made before the fork, opened in the child --------------------------

class Channel:
    """One direction of one peer: ``open_tx`` in the sending process, ``open_rx`` in the
    receiving one (after every sender has opened: the run has a barrier in between)."""

    def __init__(self, peer: str, case: str, name: str, place: str) -> None:
        self.peer, self.case, self.name, self.place = peer, case, name, place
        self.queue: Any = None
        if peer == "faster_fifo":
            import faster_fifo
            size = PAYLOAD.get(case, 8 * BATCH if case in BATCHED else 8)
            self.queue = faster_fifo.Queue(max_size_bytes=max(1 << 20, RING_ITEMS * (size + 64)))
        elif peer == "mpqueue":
            self.queue = multiprocessing.get_context("fork").Queue(RING_ITEMS)

    # cbuff
    def _directory(self) -> Any:
        import cbuff
        return cbuff.DataDirectory(self.place)

    def open_tx(self) -> Any:
        if self.peer == "cbuff":
            if self.case in BATCHED:
                return self._directory().create_buffer(self.name, item_size=8, length=64 * BATCH, policy="block")
            size = PAYLOAD.get(self.case, 8)
            return self._directory().create_buffer(self.name, item_size=size, length=RING_ITEMS, policy="block")
        if self.peer == "cbuff_msg":
            size = PAYLOAD.get(self.case, 8)
            return self._directory().create_buffer(self.name, messages=True, capacity=1 << max(16, (RING_ITEMS * (size + 24)).bit_length()),
                                                   max_message=size, policy="block")
        if self.peer == "iceoryx2":
            return Ice(self, tx=True)
        return self.queue

    def open_rx(self) -> Any:
        if self.peer in ("cbuff", "cbuff_msg"):
            return self._directory().open_reader(self.name, reader="bench")
        if self.peer == "iceoryx2":
            return Ice(self, tx=False)
        return self.queue


class Ice:
    """An iceoryx2 publish-subscribe service (lossless) and its event service (for blocking waits)."""

    def __init__(self, channel: Channel, tx: bool) -> None:
        import iceoryx2 as iox2
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        self.iox2 = iox2
        self.node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        case, size = channel.case, PAYLOAD.get(channel.case, 8)
        if case in BATCHED:
            payload: Any = iox2.Slice[ctypes.c_uint64]
            depth = 64
        elif case in PAYLOAD:
            payload = ctypes.c_uint8 * size
            depth = RING_ITEMS if size <= 64 else 1024
        else:
            payload = ctypes.c_uint64
            depth = RING_ITEMS
        self.size = size
        service = (self.node.service_builder(iox2.ServiceName.new(channel.name)).publish_subscribe(payload)
                   .enable_safe_overflow(False).subscriber_max_buffer_size(depth).history_size(0).open_or_create())
        events = self.node.service_builder(iox2.ServiceName.new(channel.name + "/event")).event().open_or_create()
        self.service, self.events = service, events
        if tx:
            builder = service.publisher_builder().backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
            if case in BATCHED:
                builder = builder.initial_max_slice_len(BATCH)
            self.publisher = builder.create()
            self.notifier = events.notifier_builder().create()
        else:
            self.subscriber = service.subscriber_builder().buffer_size(depth).create()
            self.listener = events.listener_builder().create()

    def connect(self) -> None:
        if hasattr(self, "publisher"):
            self.publisher.update_connections()


# --- The sides of each case, per peer ---------------------------------------------------------

def produce(peer: str, case: str, tx: Any, count: int) -> None:
    if case == "item8":
        if peer == "cbuff":
            push = tx.push
            for value in range(count):
                push(value)
        elif peer == "cbuff_msg":
            push_message = tx.push_message
            for value in range(count):
                push_message(value.to_bytes(8, "little"))
        elif peer == "iceoryx2":
            send, u64 = tx.publisher.send_copy, ctypes.c_uint64
            for value in range(count):
                send(u64(value))
        else:
            put = tx.put
            for value in range(count):
                put(value)
    elif case == "batch":
        batch = array.array("Q", range(BATCH))
        if peer == "cbuff":
            push_many = tx.push_many
            for _ in range(count // BATCH):
                push_many(batch)
        elif peer == "iceoryx2":
            loan, address, size = tx.publisher.loan_slice_uninit, batch.buffer_info()[0], BATCH * 8
            for _ in range(count // BATCH):
                sample = loan(BATCH)
                ctypes.memmove(sample.payload_ptr, address, size)
                sample.assume_init().send()
        elif peer == "faster_fifo":
            values = batch.tolist()
            for _ in range(count // BATCH):
                tx.put_many(values, timeout=WAIT_S * 60)
        else:
            values = batch.tolist()
            for _ in range(count // BATCH):
                tx.put(values)
    elif case == "batch_numpy":
        import numpy
        batch_array = numpy.arange(BATCH, dtype=numpy.uint64)
        if peer == "cbuff":
            push_many = tx.push_many
            for _ in range(count // BATCH):
                push_many(batch_array)
        elif peer == "iceoryx2":
            loan, address, size = tx.publisher.loan_slice_uninit, batch_array.ctypes.data, BATCH * 8
            for _ in range(count // BATCH):
                sample = loan(BATCH)
                ctypes.memmove(sample.payload_ptr, address, size)
                sample.assume_init().send()
        else:
            put = tx.put
            for _ in range(count // BATCH):
                put(batch_array)
    else:                                                   # payloads
        size = PAYLOAD[case]
        payload = bytes(range(256)) * (size // 256) if size >= 256 else bytes(range(size))
        if peer == "cbuff":
            push = tx.push
            for _ in range(count):
                push(payload)
        elif peer == "cbuff_msg":
            push_message = tx.push_message
            for _ in range(count):
                push_message(payload)
        elif peer == "iceoryx2":
            loan, memmove = tx.publisher.loan_uninit, ctypes.memmove
            for _ in range(count):
                sample = loan()
                memmove(sample.payload_ptr, payload, size)
                sample.assume_init().send()
        else:
            put = tx.put
            for _ in range(count):
                put(payload)


def consume(peer: str, case: str, rx: Any, count: int) -> None:
    last: Any = None
    got = 0
    if case == "item8":
        if peer == "cbuff":
            pop = rx.pop
            while got < count:
                value = pop()
                if value is not None:
                    last = value
                    got += 1
        elif peer == "cbuff_msg":
            pop_message = rx.pop_message
            while got < count:
                message = pop_message()
                if message is not None:
                    last = int.from_bytes(message.data, "little")
                    got += 1
        elif peer == "iceoryx2":
            receive, u64 = rx.subscriber.receive, ctypes.c_uint64
            while got < count:
                sample = receive()
                if sample is not None:
                    last = u64.from_address(sample.payload_ptr).value
                    got += 1
        else:
            get = rx.get
            while got < count:
                last = get()
                got += 1
        expected: Any = count - 1
    elif case == "batch":
        if peer == "cbuff":
            pop_many = rx.pop_many
            while got < count:
                values = pop_many(BATCH)
                if values:
                    last = values
                    got += len(values)
        elif peer == "iceoryx2":
            # The received sample's ``payload()`` (0.10.0) counts the slice in bytes, not
            # elements: the header's count is right.
            receive, u64 = rx.subscriber.receive, ctypes.c_uint64
            while got < count:
                sample = receive()
                if sample is not None:
                    items = (u64 * sample.header.number_of_elements).from_address(sample.payload_ptr)
                    last = memoryview(items).cast("B").cast("Q").tolist()
                    got += len(last)
        elif peer == "faster_fifo":
            while got < count:
                last = rx.get_many(max_messages_to_get=BATCH, timeout=WAIT_S * 60)
                got += len(last)
        else:
            while got < count:
                last = rx.get()
                got += len(last)
        last, expected = last[-1], BATCH - 1
    elif case == "batch_numpy":
        import numpy
        if peer == "cbuff":
            pop_array = rx.pop_array
            while got < count:
                values = pop_array(BATCH)
                if len(values):
                    last = values
                    got += len(values)
        elif peer == "iceoryx2":
            receive, u64, frombuffer, uint64 = rx.subscriber.receive, ctypes.c_uint64, numpy.frombuffer, numpy.uint64
            while got < count:
                sample = receive()
                if sample is not None:
                    last = frombuffer((u64 * sample.header.number_of_elements).from_address(sample.payload_ptr), dtype=uint64).copy()
                    got += len(last)
        else:
            get = rx.get
            while got < count:
                last = get()
                got += len(last)
        last, expected = int(last[-1]), BATCH - 1
    else:
        size = PAYLOAD[case]
        if peer == "cbuff":
            pop = rx.pop
            while got < count:
                data = pop()
                if data is not None:
                    last = data
                    got += 1
        elif peer == "cbuff_msg":
            pop_message = rx.pop_message
            while got < count:
                message = pop_message()
                if message is not None:
                    last = message.data
                    got += 1
        elif peer == "iceoryx2":
            receive, string_at = rx.subscriber.receive, ctypes.string_at
            while got < count:
                sample = receive()
                if sample is not None:
                    last = string_at(sample.payload_ptr, size)
                    got += 1
        else:
            get = rx.get
            while got < count:
                last = get()
                got += 1
        last, expected = len(last), size
    if last != expected or got != count:
        raise SystemExit(f"{peer} {case}: received {got} items ending with {last!r}, expected {count} ending with {expected!r}")


def ping_pong(peer: str, case: str, tx: Any, rx: Any, count: int, first: bool) -> List[int]:
    """``count`` round trips of one integer; the first side times each (ns) and returns them."""
    blocking = case == "pingpong_block"
    clock = time.perf_counter_ns
    times: List[int] = []
    if peer in ("cbuff", "cbuff_msg"):
        if peer == "cbuff":
            push, pop = tx.push, rx.pop
        else:
            push_message, pop_message = tx.push_message, rx.pop_message

            def push(value: int) -> bool:
                return bool(push_message(value.to_bytes(8, "little")))

            def pop(timeout: Optional[float] = None) -> Optional[int]:
                message = pop_message(timeout)
                return None if message is None else int.from_bytes(message.data, "little")
        timeout = WAIT_S if blocking else None

        def receive() -> int:
            while True:
                value = pop(timeout)
                if value is not None:
                    return int(value)

        send = push
    elif peer == "iceoryx2":
        publish, take, u64 = tx.publisher.send_copy, rx.subscriber.receive, ctypes.c_uint64
        notify, wait, slice_ = tx.notifier.notify, rx.listener.timed_wait, tx.iox2.Duration.from_secs_f64(WAIT_S)

        def send(value: int) -> None:
            publish(u64(value))
            if blocking:
                notify()

        def receive() -> int:
            while True:
                sample = take()
                if sample is not None:
                    return int(u64.from_address(sample.payload_ptr).value)
                if blocking:
                    wait(slice_)
    else:
        send = tx.put
        if blocking:
            get = rx.get

            def receive() -> int:
                return int(get(True, WAIT_S * 60))
        else:
            get_nowait, empty = rx.get_nowait, queue.Empty

            def receive() -> int:
                while True:
                    try:
                        return int(get_nowait())
                    except empty:
                        pass
    for value in range(count):
        if first:
            start = clock()
            send(value)
            if receive() != value:
                raise SystemExit(f"{peer} {case}: round trip {value} came back wrong")
            times.append(clock() - start)
        else:
            send(receive())
    return times


# --- One run: two processes ---------------------------------------------------------------------

def side(peer: str, case: str, role: str, count: int, channels: Dict[str, Channel], barrier: Any, results: Any) -> None:
    """A child process: opens its ends, meets the other side at the barriers, runs its part
    timed, and sends back (role, start ns, end ns, CPU s, round-trip times)."""
    try:
        if case.startswith("pingpong"):
            mine, theirs = ("ping", "pong") if role == "a" else ("pong", "ping")
            tx = channels[mine].open_tx()
            barrier.wait()
            rx = channels[theirs].open_rx()
        elif role == "a":
            tx, rx = channels["data"].open_tx(), None
            barrier.wait()
        else:
            barrier.wait()
            tx, rx = None, channels["data"].open_rx()
        if case == "batch_numpy":
            import numpy  # noqa: F401  (imported before the timed part: its first import takes 0.1 s)
        barrier.wait()
        for end in (tx, rx):
            if isinstance(end, Ice):
                end.connect()
        barrier.wait()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic_ns()
        times: List[int] = []
        if case.startswith("pingpong"):
            times = ping_pong(peer, case, tx, rx, count, role == "a")
        elif role == "a":
            produce(peer, case, tx, count)
        else:
            consume(peer, case, rx, count)
        end_ns = time.monotonic_ns()
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        if peer in ("cbuff", "cbuff_msg") and rx is not None and rx.missed:
            raise SystemExit(f"{peer} {case}: the reader missed {rx.missed} items (the run is not lossless)")
        results.put((role, start, end_ns, cpu, times))
        barrier.wait()          # both done before either closes (a writer's close is seen by the reader)
        for end in (tx, rx):
            if end is not None and hasattr(end, "close") and peer in ("cbuff", "cbuff_msg"):
                end.close()
    except BaseException as error:
        results.put(("error", repr(error)))
        barrier.abort()
        raise


def run_once(peer: str, case: str, count: int, run_id: str, place: str) -> Dict[str, float]:
    context = multiprocessing.get_context("fork")
    names = ("ping", "pong") if case.startswith("pingpong") else ("data",)
    channels = {name: Channel(peer, case, f"peers-{run_id}-{name}", place) for name in names}
    barrier, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=side, args=(peer, case, role, count, channels, barrier, results)) for role in ("a", "b")]
    for child in children:
        child.start()
    outcomes = {}
    try:
        for _ in children:
            outcome = results.get(timeout=600)
            if outcome[0] == "error":
                raise RuntimeError(f"{peer} {case}: {outcome[1]}")
            outcomes[outcome[0]] = outcome
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
                child.join()
    (_, a_start, a_end, a_cpu, times), (_, b_start, b_end, b_cpu, _) = outcomes["a"], outcomes["b"]
    a_wall, b_wall = (a_end - a_start) / 1e9, (b_end - b_start) / 1e9
    figures = {"cpu_a_core": a_cpu / a_wall, "cpu_b_core": b_cpu / b_wall}
    if case.startswith("pingpong"):
        figures["round_trip_us"] = statistics.median(times) / 1000
        figures["cpu_a_us_per_trip"] = a_cpu / count * 1e6
        figures["cpu_b_us_per_trip"] = b_cpu / count * 1e6
    else:
        figures["items_per_s"] = count / ((max(a_end, b_end) - min(a_start, b_start)) / 1e9)
    return figures


# --- Rounds, medians, ratios ---------------------------------------------------------------------

def installed(peer: str) -> bool:
    module = {"iceoryx2": "iceoryx2", "faster_fifo": "faster_fifo"}.get(peer)
    return module is None or importlib.util.find_spec(module) is not None


def applies(peer: str, case: str) -> bool:
    return not (peer == "cbuff_msg" and case in BATCHED)      # messages have no batch call


def emit(name: str, metric: str, value: float, unit: str) -> None:
    print(f"bench={name} metric={metric} value={value:.6g} unit={unit}", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count (0.01 for a smoke run)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--peers", default=",".join(PEERS))
    options = parser.parse_args(argv)
    cases = [case for case in options.cases.split(",") if case]
    peers = []
    for peer in options.peers.split(","):
        if peer not in PEERS:
            parser.error(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
        if installed(peer):
            peers.append(peer)
        else:
            print(f"peers.py: {peer} is not installed; left out (pip install {peer.replace('_', '-')})", file=sys.stderr)
    for case in cases:
        if case not in COUNTS:
            parser.error(f"unknown case {case!r} (known: {', '.join(CASES)})")
    if "batch_numpy" in cases and importlib.util.find_spec("numpy") is None:
        print("peers.py: numpy is not installed; batch_numpy left out (pip install numpy)", file=sys.stderr)
        cases.remove("batch_numpy")
    place = tempfile.mkdtemp(prefix="cbuff-peers-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    runs: Dict[Tuple[str, str], List[Dict[str, float]]] = {}
    ratios: Dict[Tuple[str, str], List[float]] = {}
    serial = itertools.count()
    try:
        for round_index in range(options.rounds):
            for case in cases:
                metric, _ = main_metric(case)
                order = [peer for peer in peers if applies(peer, case)]
                order = order[round_index % len(order):] + order[:round_index % len(order)]     # rotate who goes first
                this_round = {}
                for peer in order:
                    count = max(10, int(COUNTS[case] * options.scale * SLOW_SHARE_OF.get((case, peer), SLOW_SHARE[peer])))
                    if case in BATCHED:
                        count = max(BATCH, count // BATCH * BATCH)
                    folder = os.path.join(place, f"run{next(serial)}")
                    os.mkdir(folder, 0o700)
                    try:
                        figures = run_once(peer, case, count, f"{os.getpid()}-{round_index}-{case}-{peer}", os.path.join(folder, "d"))
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                    runs.setdefault((case, peer), []).append(figures)
                    this_round[peer] = figures[metric]
                if "cbuff" in this_round:
                    for peer, value in this_round.items():
                        ratios.setdefault((case, peer), []).append(value / this_round["cbuff"])
            print(f"peers.py: round {round_index + 1} of {options.rounds} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(place, ignore_errors=True)
    units = {"items_per_s": "items/s", "round_trip_us": "us", "cpu_a_core": "cores", "cpu_b_core": "cores",
             "cpu_a_us_per_trip": "us", "cpu_b_us_per_trip": "us"}
    for (case, peer), figures in runs.items():
        for metric in figures[0]:
            emit(f"peers_{case}_{peer}", metric, statistics.median(f[metric] for f in figures), units[metric])
        if (case, peer) in ratios:
            emit(f"peers_{case}_{peer}", "ratio_to_cbuff", statistics.median(ratios[case, peer]), "x")
    print_table(cases, peers, runs, ratios)
    return 0


def print_table(cases: List[str], peers: List[str], runs: Dict[Tuple[str, str], List[Dict[str, float]]], ratios: Dict[Tuple[str, str], List[float]]) -> None:
    """Per case: each peer's median main metric, its median per-round ratio to cbuff (peer/cbuff;
    for throughput below 1 means cbuff is faster, for latency above 1), and, for the blocking
    ping-pong, the CPU of each side."""
    print()
    print(f"{'case':<15} {'peer':<12} {'median':>12} {'unit':<8} {'peer/cbuff':>10}  {'cpu a, b (cores)':<18} {'cpu a, b (us/trip)'}")
    for case in cases:
        metric, unit = main_metric(case)
        for peer in peers:
            figures = runs.get((case, peer))
            if not figures:
                continue
            value = statistics.median(f[metric] for f in figures)
            ratio = f"{statistics.median(ratios[case, peer]):.2f}x" if (case, peer) in ratios else "-"
            cpu = f"{statistics.median(f['cpu_a_core'] for f in figures):.2f}, {statistics.median(f['cpu_b_core'] for f in figures):.2f}"
            per_trip = ""
            if case.startswith("pingpong"):
                per_trip = f"{statistics.median(f['cpu_a_us_per_trip'] for f in figures):.1f}, {statistics.median(f['cpu_b_us_per_trip'] for f in figures):.1f}"
            shown = f"{value / 1e6:.3f} M" if unit == "items/s" else f"{value:.2f}"
            print(f"{case:<15} {peer:<12} {shown:>12} {unit:<8} {ratio:>10}  {cpu:<18} {per_trip}")


if __name__ == "__main__":
    sys.exit(main())

