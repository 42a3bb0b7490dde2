"""``SharedCircularBuffer``, the seed's class: the instance that creates a buffer is its writer,
every other one a reader with its own cursor, opened by name alone (item size and length come
from cbuff's registry; a reader that passes others than the defaults must pass the buffer's)."""

from __future__ import annotations

import atexit
from typing import List, Optional, Sequence, Union

from cbuff import DataDirectory, Reader, Writer
from cbuff.errors import InvalidArgument, NotFound

from .errors import ReadOperationsForbidden, WriteOperationsForbidden

__all__: List[str] = ["SharedCircularBuffer"]


class SharedCircularBuffer:
    """A circular buffer of unsigned integers shared by processes on one host, as the seed's:
    ``SharedCircularBuffer(name, *, create=False, item_size=1, length=2)``.

    The instance that creates the buffer (``create=True``) is its writer (``push``); every
    other instance is a reader with its own cursor (``popitem``, ``popmany``), which finds the
    item size and length in cbuff's registry. ``cleanup()`` detaches, and the creator's also
    removes the buffer; it runs when the program exits, as in the seed.

    ``directory`` (not in the seed) chooses the data directory: a path or a
    ``cbuff.DataDirectory``; by default ``$CBUFF_DIR``, else the per-user default.

    The one intended difference from the seed: a ring of length L keeps the L most recent items
    (the seed lost them all when exactly L items had been pushed).
    """

    def __init__(self, name: str, *, create: bool = False, item_size: int = 1, length: int = 2,
                 directory: Union[str, DataDirectory, None] = None) -> None:
        if length < 2:
            raise ValueError("Buffer length must greater than 1")
        if directory is not None and not isinstance(directory, (str, DataDirectory)):
            raise InvalidArgument(f"directory {directory!r} is not a path, a cbuff.DataDirectory or None.")
        self._directory = directory if isinstance(directory, DataDirectory) else DataDirectory(directory)
        self.name = name
        """The name of the buffer this instance is attached to."""
        self._writeable = create
        self._created_ns: Optional[int] = None
        self._writer: Optional[Writer] = None
        self._reader: Optional[Reader] = None
        if create:
            writer = self._directory.create_buffer(name, item_size=item_size, length=length)
            assert isinstance(writer, Writer)
            self._writer = writer
            # Which buffer this creator made: cleanup removes that one, never one of the same
            # name that someone else created after it was removed (cbuff rm) under this one.
            self._created_ns = writer._file.created_at()
            self.item_size: int = writer.item_size
            """The size of each item, in bytes."""
            self.length: int = writer.length
            """The number of items the buffer holds."""
        else:
            reader = self._directory.open_reader(name)
            if not isinstance(reader, Reader):
                reader.close()
                raise InvalidArgument(f'Buffer "{name}" holds messages, not items; open it with cbuff.DataDirectory.open_reader.')
            # The defaults stand for "as the buffer was created"; other values must be its own.
            wrong = [f"{what} {given}" for what, given, default, actual in
                     (("item size", item_size, 1, reader.item_size), ("length", length, 2, reader.length))
                     if given != default and given != actual]
            if wrong:
                reader.close()
                raise InvalidArgument(f'Buffer "{name}" has item size {reader.item_size} and length {reader.length}, not {" and ".join(wrong)}.')
            self._reader = reader
            self.item_size = reader.item_size
            self.length = reader.length
        atexit.register(self.cleanup)

    def __str__(self) -> str:
        if self._writeable:
            return f"SharedCircularBuffer ({self.name})"
        return f"SharedCircularBuffer ({self.name}) ({(self.usage / self.length) * 100:.2f}% full)"

    def __repr__(self) -> str:
        role = "writer" if self._writeable else "reader"
        return f"<SharedCircularBuffer {self.name!r} {role}, item_size={self.item_size}, length={self.length}>"

    def push(self, item: int) -> None:
        """Pushes an unsigned integer that fits in ``item_size`` bytes (the writer only; a value
        that does not fit is refused, never truncated)."""
        if self._writer is None:
            raise WriteOperationsForbidden("Buffer is not writeable")
        self._writer.push(item)

    def popitem(self) -> Optional[int]:
        """The next item, or None if there is nothing to read (readers only)."""
        if self._reader is None:
            raise ReadOperationsForbidden("Buffer is not readable")
        item = self._reader.pop()
        assert item is None or isinstance(item, int)
        return item

    def popmany(self, n: int) -> Sequence[int]:
        """Up to ``n`` items, oldest first, as a list (readers only)."""
        if self._reader is None:
            raise ReadOperationsForbidden("Buffer is not readable")
        return self._reader.pop_many(n)

    @property
    def usage(self) -> int:
        """The number of items in the buffer: for a reader, those waiting for it; for the
        writer, those the ring holds."""
        if self._writer is not None:
            return min(self._writer.next_sequence, self.length)
        if self._reader is not None:
            return min(self._reader.available(), self.length)
        return 0

    def cleanup(self) -> None:
        """Detaches from the buffer; the creator also removes it (the seed unlinked its shared
        memory). Called when the program exits; calling it again does nothing."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            try:
                self._directory._remove(self.name, force=True, created_ns=self._created_ns)
            except NotFound:
                pass        # removed already (by cbuff rm, say): nothing left to clean up
        if self._reader is not None:
            self._reader.close()
            self._reader = None
