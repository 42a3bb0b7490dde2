"""The seed's four exceptions, as cbuff's: every cbuff error is a ``CBuffException``."""

from cbuff.errors import BufferAlreadyCreated, CBuffError, ReadOperationsForbidden, WriteOperationsForbidden

CBuffException = CBuffError

__all__ = ["BufferAlreadyCreated", "CBuffException", "ReadOperationsForbidden", "WriteOperationsForbidden"]
