"""A check of the registry's write-ahead log before SQLite reads it: the Swift side's
``Sources/Registry/WALCheck.swift``, rule for rule (its comment gives the argument).

SQLite's recovery (https://www.sqlite.org/fileformat2.html#walformat; ``walIndexRecover`` in
``wal.c``) ignores a log whose header is shorter than 32 bytes or has a wrong magic number, an
impossible page size or a checksum that does not match; refuses one whose checksum matches but
whose version it does not know; and otherwise reads frames in order while each has the header's
salts, a page number that is not 0 and a matching cumulative checksum, using the log up to the
last valid commit frame and dropping every frame after it. After a crash, with
``synchronous = FULL``, those dropped frames are those of the one transaction that never
committed: torn, half written, out of order, or an older log's. cbuff accepts every such log.

Damage is what no crash leaves: a header SQLite refuses (a matching checksum, an unknown
version), or a WAL index (``-shm``: both header copies equal, initialised, checksum matching,
the log's salts) that counts as committed more frames than SQLite's reading reaches and than
the checkpoint copied (SQLite counts a frame only after it was synced) — an index changed during
this boot only: SQLite never syncs it, so after a machine crash the file holds some past version
of it whose ``nBackfill`` is as stale as its ``mxFrame``, and SQLite throws it away at the first
open (issue 26, F5). One last changed before this boot began is not read."""

from __future__ import annotations

import os
import struct
import time
from typing import List, NamedTuple, Optional, Tuple

from . import _system as S
from .errors import Corrupted

HEADER_SIZE, FRAME_HEADER_SIZE, INDEX_HEADER_BYTES = 32, 24, 136
WAL_LIMIT = 64 << 20


class Reading(NamedTuple):
    """What SQLite makes of a log: its salts (None when it ignores or refuses it), the last valid
    commit frame (0: none), why the reading stopped early, and a version it refuses."""
    salts: Optional[Tuple[int, int]]
    last_commit: int
    stop: Optional[str]
    refused_version: Optional[int]


def verify(trust: S.DirectoryTrust, wal: str, shm: str) -> None:
    """Raises ``Corrupted`` if the WAL ``wal`` of the directory is damaged in a way no crash leaves."""
    # The index first: a commit meanwhile is never counted by an index it outran. Only one
    # changed during this boot counts (see above).
    shm_read = _read(trust, shm, INDEX_HEADER_BYTES)
    index = shm_read[0] if shm_read is not None and shm_read[1] >= boot_realtime_ns() else None
    wal_read = _read(trust, wal, WAL_LIMIT, whole=True)
    data = wal_read[0] if wal_read is not None else None
    if not data:
        return
    problem = damage(data, index)
    if problem is not None:
        path = os.path.join(trust.path, wal)
        raise Corrupted(f"The registry's write-ahead log {path} is damaged ({problem}): SQLite would silently drop the changes committed there. Restore the registry from a backup (see docs/registry.md), or move the log and its index (registry.sqlite-wal, registry.sqlite-shm) aside to accept losing them.")


def damage(wal: bytes, index: Optional[bytes]) -> Optional[str]:
    """Why log ``wal`` with index ``index`` is damaged, or None when SQLite's reading of it loses
    nothing that was committed."""
    reading = read(wal)
    if reading.refused_version is not None:
        return f"its header has the unknown version {reading.refused_version}, which SQLite refuses"
    header = _index_header(index)
    if header is None:
        return None
    max_frame, salts, backfilled = header
    if max_frame <= backfilled or max_frame <= reading.last_commit:
        return None
    if reading.salts is None:
        logs: List[Tuple[int, int]] = [struct.unpack_from(">II", wal, at) for at in (16, 40) if len(wal) >= at + 8]
        if salts not in logs:
            return None
        return f"its header is not a valid log header, so SQLite ignores the log, but its index records frames up to {max_frame} as committed"
    if salts != reading.salts:
        return None
    return f"its index records frames up to {max_frame} as committed, but {reading.stop or 'the log ends'} after frame {reading.last_commit}"


def read(wal: bytes) -> Reading:
    """The log as SQLite's recovery reads it."""
    if len(wal) < HEADER_SIZE:
        return Reading(None, 0, None, None)
    magic, version, page_size = struct.unpack_from(">III", wal, 0)
    if magic & 0xFFFFFFFE != 0x377F0682 or page_size & (page_size - 1) or not 512 <= page_size <= 65536:
        return Reading(None, 0, None, None)
    big_endian_sums = magic & 1 == 1
    sums = _checksum(wal, 0, 24, big_endian_sums, (0, 0))
    if sums != struct.unpack_from(">II", wal, 24):
        return Reading(None, 0, None, None)
    if version != 3007000:
        return Reading(None, 0, None, version)
    salts = struct.unpack_from(">II", wal, 16)
    frame_size = FRAME_HEADER_SIZE + page_size
    frame, offset, last_commit = 1, HEADER_SIZE, 0
    while offset + frame_size <= len(wal):
        page, commit = struct.unpack_from(">II", wal, offset)
        if struct.unpack_from(">II", wal, offset + 8) != salts:
            return Reading(salts, last_commit, f"frame {frame} has other salts", None)
        if page == 0:
            return Reading(salts, last_commit, f"frame {frame} names page 0", None)
        sums = _checksum(wal, offset, offset + 8, big_endian_sums, sums)
        sums = _checksum(wal, offset + FRAME_HEADER_SIZE, offset + frame_size, big_endian_sums, sums)
        if sums != struct.unpack_from(">II", wal, offset + 16):
            return Reading(salts, last_commit, f"frame {frame} fails its checksum", None)
        if commit:
            last_commit = frame
        frame += 1
        offset += frame_size
    return Reading(salts, last_commit, f"frame {frame} is cut short" if offset < len(wal) else None, None)


def _index_header(index: Optional[bytes]) -> Optional[Tuple[int, Tuple[int, int], int]]:
    """(mxFrame, salts, nBackfill) of a WAL index header SQLite would use (both copies equal,
    initialised, checksum matching; native little-endian words, the salts the log header's
    bytes), or None."""
    if index is None or len(index) < INDEX_HEADER_BYTES or index[0:48] != index[48:96] or index[12] != 1:
        return None
    if _checksum(index, 0, 40, False, (0, 0)) != struct.unpack_from("<II", index, 40):
        return None
    return struct.unpack_from("<I", index, 16)[0], struct.unpack_from(">II", index, 32), struct.unpack_from("<I", index, 96)[0]


def _checksum(data: bytes, start: int, end: int, big_endian: bool, seed: Tuple[int, int]) -> Tuple[int, int]:
    """SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic number says."""
    s0, s1 = seed
    words = struct.unpack_from((">" if big_endian else "<") + f"{(end - start) // 4}I", data, start)
    for i in range(0, len(words) - 1, 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def boot_realtime_ns() -> int:
    """When this boot began, in nanoseconds since the Unix epoch: the real-time clock less the
    time since boot (the Swift side's ``Sys.bootRealtimeNanos``)."""
    return max(0, time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_BOOTTIME))


def _read(trust: S.DirectoryTrust, name: str, limit: int, whole: bool = False) -> Optional[Tuple[bytes, int]]:
    """The file's first ``limit`` bytes and when it was last changed (``st_mtime``, ns), or None
    if it does not exist (or, when ``whole``, is longer than ``limit``: a log that large is left
    to SQLite, a prefix could not be judged)."""
    try:
        fd, info = S.open_trusted(trust, name, False, "registry file")
    except FileNotFoundError:
        return None
    try:
        if whole and info.st_size > limit:
            return None
        return (os.pread(fd, min(limit, info.st_size), 0) if info.st_size else b""), max(0, info.st_mtime_ns)
    except OSError as error:
        raise S.system_error(error, f"read the registry file {os.path.join(trust.path, name)}") from None
    finally:
        os.close(fd)
