"""The seed library's API, on cbuff: ``shared_cbuff.buffer.SharedCircularBuffer`` and the four
errors of ``shared_cbuff.errors``, unchanged for the programs that use them, with cbuff's
buffers underneath (persistent, discoverable by name, shared with Swift programs). The one
intended difference: a ring of length L keeps the L most recent items (the seed lost them all
when exactly L items had been pushed)."""

from .buffer import SharedCircularBuffer
from .errors import BufferAlreadyCreated, CBuffException, ReadOperationsForbidden, WriteOperationsForbidden

__all__ = ["BufferAlreadyCreated", "CBuffException", "ReadOperationsForbidden", "SharedCircularBuffer", "WriteOperationsForbidden"]
