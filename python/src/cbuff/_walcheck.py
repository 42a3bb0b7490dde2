"""A check of the registry's write-ahead log before SQLite reads it (the Swift side's
``Sources/Registry/WALCheck.swift``).

SQLite reads a WAL up to its first frame whose checksum fails and silently ignores the rest: one
damaged byte would unregister every buffer committed after it, with no error anywhere. cbuff
checkpoints after every change, so the WAL is normally empty; when it is not, this looks for the
signs of lost commits and makes them a loud ``Corrupted`` error instead:

- a header that is not a WAL header (bad magic, version or checksum) on a non-empty file;
- a frame of the current log (its salts match the header's) that fails its checksum, when a
  later frame belongs to the current log too, or when the WAL index (``-shm``, read first, so
  that a writer finishing a frame meanwhile cannot fool it) counts that frame as committed.

A frame that fails its checksum at the very end, uncounted by the index, is a write a killed
process never finished: SQLite rightly ignores it, and so does this check.
(Format: https://www.sqlite.org/fileformat2.html#walformat.)"""

from __future__ import annotations

import os
import struct
from typing import Optional, Tuple

from . import _system as S
from .errors import Corrupted

HEADER_SIZE, FRAME_HEADER_SIZE = 32, 24


def verify(trust: S.DirectoryTrust, wal: str, shm: str) -> None:
    """Raises ``Corrupted`` if the WAL ``wal`` of the directory has lost committed frames."""
    index = _read(trust, shm, 136)
    data = _read(trust, wal, 64 << 20)
    if not data:
        return
    path = os.path.join(trust.path, wal)

    def damaged(what: str) -> Corrupted:
        return Corrupted(f"The registry's write-ahead log {path} is damaged ({what}): SQLite would silently drop the changes committed after the damage. Restore the registry from a backup (see docs/registry.md), or move the log aside to accept losing them.")

    if len(data) < HEADER_SIZE:
        raise damaged(f"it is {len(data)} bytes, shorter than its header")
    magic, version, page_size = struct.unpack_from(">III", data, 0)
    if magic not in (0x377F0682, 0x377F0683):
        raise damaged("its header has no WAL magic number")
    big_endian_sums = magic & 1 == 1
    if version != 3007000:
        raise damaged("its header has an unknown version")
    if not (512 <= page_size <= 65536 and (page_size & (page_size - 1) == 0)) and page_size != 1:
        raise damaged(f"its header gives a page size of {page_size}")
    sums = _checksum(data, 0, 24, big_endian_sums, (0, 0))
    if sums != struct.unpack_from(">II", data, 24):
        raise damaged("its header checksum does not match")
    salts = struct.unpack_from(">II", data, 16)
    frame_size = FRAME_HEADER_SIZE + page_size
    frame, offset = 0, HEADER_SIZE
    while offset + frame_size <= len(data):
        if struct.unpack_from(">II", data, offset + 8) != salts:
            return      # the rest is an older log's, reused space
        sums = _checksum(data, offset, offset + 8, big_endian_sums, sums)
        sums = _checksum(data, offset + FRAME_HEADER_SIZE, offset + frame_size, big_endian_sums, sums)
        if sums != struct.unpack_from(">II", data, offset + 16):
            later = offset + frame_size
            while later + frame_size <= len(data):
                if struct.unpack_from(">II", data, later + 8) == salts:
                    raise damaged(f"frame {frame + 1} fails its checksum and later frames follow it")
                later += frame_size
            # The index header: mxFrame at 16 (native order), the log's salts at 32 (copied bytes,
            # so in the WAL header's big-endian order).
            if index is not None and len(index) >= 48 and struct.unpack_from(">II", index, 32) == salts \
                    and struct.unpack_from("<I", index, 16)[0] > frame:
                raise damaged(f"frame {frame + 1}, which SQLite recorded as committed, fails its checksum")
            return
        frame += 1
        offset += frame_size


def _checksum(data: bytes, start: int, end: int, big_endian: bool, seed: Tuple[int, int]) -> Tuple[int, int]:
    """SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic number says."""
    s0, s1 = seed
    words = struct.unpack_from((">" if big_endian else "<") + f"{(end - start) // 4}I", data, start)
    for i in range(0, len(words) - 1, 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _read(trust: S.DirectoryTrust, name: str, limit: int) -> Optional[bytes]:
    """The file's first ``limit`` bytes, or None if it does not exist (checked as trusted)."""
    try:
        fd, info = S.open_trusted(trust, name, False, "registry file")
    except FileNotFoundError:
        return None
    try:
        return os.pread(fd, min(limit, info.st_size), 0) if info.st_size else b""
    except OSError as error:
        raise S.system_error(error, f"read the registry file {os.path.join(trust.path, name)}") from None
    finally:
        os.close(fd)
