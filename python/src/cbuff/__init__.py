"""cbuff in pure Python: named, persistent, memory-mapped circular buffers shared by processes
on one host, interoperating with the Swift library and the ``cbuff`` tool through the documented
ring file format and registry (no compiled code, no Swift needed).

    import cbuff
    directory = cbuff.DataDirectory()                     # path, else $CBUFF_DIR, else the default
    with directory.create_buffer("ticks", fields="time:u64,price:f64", length=4096) as writer:
        writer.push({"time": 1, "price": 2.5})
    reader = directory.open_reader("ticks")
    print(reader.pop())                                    # {'time': 1, 'price': 2.5}

Runs on Linux x86-64 only (see ``cbuff._system`` for why).
"""

from ._api import (
    Access,
    BufferStatus,
    DamagedBuffer,
    DataDirectory,
    Integrity,
    Item,
    Message,
    MessageReader,
    MessageWriter,
    Policy,
    Reader,
    ReaderStatus,
    Start,
    Survey,
    Writer,
    default_path,
)
from ._format import FieldLayout
from .errors import *  # noqa: F403
from .errors import CBuffError

__all__ = [
    "Access",
    "BufferStatus",
    "CBuffError",
    "DamagedBuffer",
    "DataDirectory",
    "FieldLayout",
    "Integrity",
    "Item",
    "Message",
    "MessageReader",
    "MessageWriter",
    "Policy",
    "Reader",
    "ReaderStatus",
    "Start",
    "Survey",
    "Writer",
    "default_path",
]
__version__ = "2.0.0"
