"""cbuff's errors: one base class, one subclass per code, the same codes as the Swift library's
``CBuffError.Code`` (and the same exit statuses in the ``cbuff`` tool)."""


class CBuffError(Exception):
    """Any cbuff error: ``code`` is the Swift side's code name, ``message`` one sentence."""

    code: str = "systemFailure"
    #: Set on the error of a registry change that failed at its commit: whether the change is
    #: in the registry cannot be told (SQLite's next recovery may find it in the log).
    commit_outcome_unknown: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CBuffError):
    code = "notFound"


class BufferAlreadyCreated(CBuffError):
    code = "bufferAlreadyCreated"


class WriteOperationsForbidden(CBuffError):
    code = "writeOperationsForbidden"


class ReadOperationsForbidden(CBuffError):
    code = "readOperationsForbidden"


class InvalidArgument(CBuffError, ValueError):
    code = "invalidArgument"


class ValueDoesNotFit(CBuffError, ValueError):
    code = "valueDoesNotFit"


class Corrupted(CBuffError):
    code = "corrupted"


class WriterBusy(CBuffError):
    code = "writerBusy"


class PermissionDenied(CBuffError, PermissionError):
    code = "permissionDenied"


class Closed(CBuffError):
    code = "closed"


class SystemFailure(CBuffError):
    code = "systemFailure"


class ReaderBusy(CBuffError):
    code = "readerBusy"


class TimedOut(CBuffError, TimeoutError):
    code = "timedOut"


class TypeMismatch(CBuffError):
    code = "typeMismatch"


class Unsupported(CBuffError):
    """This machine cannot run cbuff's protocol correctly from Python (see ``cbuff._system``)."""

    code = "systemFailure"
