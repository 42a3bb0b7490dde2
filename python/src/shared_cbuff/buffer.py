"""``SharedCircularBuffer``, the seed's class: the instance that creates a buffer is its writer,
every other one a reader with its own cursor, opened by name alone (item size and length come
from cbuff's registry; given ones must match it)."""

from cbuff import DataDirectory
from cbuff.errors import InvalidArgument

from .errors import ReadOperationsForbidden, WriteOperationsForbidden


class SharedCircularBuffer:
    def __init__(self, name, *, create=False, item_size=None, length=None, directory=None):
        self._directory = directory if isinstance(directory, DataDirectory) else DataDirectory(directory)
        self.name = name
        self._writer = self._reader = None
        if create:
            self._writer = self._directory.create_buffer(name, item_size=1 if item_size is None else item_size,
                                                        length=2 if length is None else length)
            handle = self._writer
        else:
            self._reader = self._directory.open_reader(name)
            handle = self._reader
        if not create and ((item_size is not None and item_size != handle.item_size) or (length is not None and length != handle.length)):
            self._reader.close()
            raise InvalidArgument(f'Buffer "{name}" has item size {handle.item_size} and length {handle.length}, not {item_size} and {length}.')
        self.item_size, self.length = handle.item_size, handle.length

    def push(self, item):
        """Pushes an unsigned integer that fits in ``item_size`` bytes (writer only)."""
        if self._writer is None:
            raise WriteOperationsForbidden(f'This SharedCircularBuffer "{self.name}" is a reader; only its creator writes.')
        self._writer.push(item)

    def popitem(self):
        """The next item, or None if there is none (reader only)."""
        if self._reader is None:
            raise ReadOperationsForbidden(f'This SharedCircularBuffer "{self.name}" is its writer; open another instance to read.')
        return self._reader.pop()

    def popmany(self, count):
        """Up to ``count`` items, oldest first (reader only)."""
        if self._reader is None:
            raise ReadOperationsForbidden(f'This SharedCircularBuffer "{self.name}" is its writer; open another instance to read.')
        return self._reader.pop_many(count)

    @property
    def usage(self):
        """For a reader, the items waiting for it; for the writer, the items the ring holds."""
        if self._writer is not None:
            return min(self._writer.next_sequence, self.length)
        published = self._reader._file.published()
        return min(published - self._reader.next_sequence, self.length)

    def cleanup(self):
        """Detaches; the creator also removes the buffer (the seed unlinked its shared memory)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._directory.remove(self.name, force=True)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __str__(self):
        role = "writer" if self._writer is not None else "reader"
        return f"SharedCircularBuffer(name={self.name!r}, item_size={self.item_size}, length={self.length}, {role}, usage={self.usage})"

    __repr__ = __str__
