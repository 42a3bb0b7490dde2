package import SharedRingSystem

/// What the layers below the public API throw: a kind, one sentence for people, and the cause
/// (a failed system call, an SQLite error) when there is one. The public API turns it into a
/// `CBuffFailure` (`SharedRing/CBuffFailure.swift`) at its boundary, so that clients see one error
/// type that belongs to the module they import, and no layer below it exposes anything.
///
/// The sentences live here, above the System layer (which reports only which call failed with
/// which errno) and below the Ring and Registry layers, which both say what they were doing.
package struct CBuffFailure: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure. `CBuffFailure.Code` has one public code per kind, with the same
    /// raw value.
    package enum Code: UInt8, Sendable, CaseIterable {
        case notFound = 1
        case bufferAlreadyCreated = 2
        case writeOperationsForbidden = 3
        case readOperationsForbidden = 4
        case invalidArgument = 5
        case valueDoesNotFit = 6
        case corrupted = 7
        case writerBusy = 8
        case permissionDenied = 9
        case closed = 10
        case systemFailure = 11
        case readerBusy = 12
        case timedOut = 13
        case typeMismatch = 14

        /// Lets `catch CBuffFailure.Code.notFound { … }` match a thrown ``CBuffFailure``.
        package static func ~= (code: Code, error: any Error) -> Bool {
            (error as? CBuffFailure)?.code == code
        }

        /// The same, in a `do` whose errors are typed `CBuffFailure`.
        package static func ~= (code: Code, error: CBuffFailure) -> Bool {
            error.code == code
        }
    }

    package let code: Code
    package let message: String
    package let cause: (any Error & Sendable)?

    package init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    package var description: String {
        guard let cause else { return message }
        return "\(message) (\(cause))"
    }

    /// The failure of a system call made while doing `what` ("create ring file /d/t.ring"):
    /// the one table from a system call's cause (its errno, see `SystemCallFailure.Cause`) to
    /// a code and a sentence that says that cause. Every errno is mapped here by what it
    /// means, never by a default that names another cause: a descriptor limit is not a
    /// permission problem, nor is a read-only mount.
    package static func system(_ failure: SystemCallFailure, _ what: String) -> CBuffFailure {
        let (code, sentence) = words(for: failure.cause, what)
        return CBuffFailure(code, sentence, cause: failure)
    }

    /// The code and sentence for `cause` while doing `what`: shared by failed system calls and
    /// by SQLite's errors (whose system errno the registry recovers), so both say the same.
    package static func words(for cause: SystemCallFailure.Cause, _ what: String) -> (Code, String) {
        switch cause {
        case .notFound:
            (.notFound, "Not found: cannot \(what).")
        case .symbolicLink:
            (.corrupted, "Cannot \(what): a symbolic link is where a file should be; cbuff opens only regular files. Remove the link.")
        case .specialFile:
            (.corrupted, "Cannot \(what): a FIFO, socket or device is where a file should be; cbuff opens only regular files.")
        case .directory:
            (.corrupted, "Cannot \(what): a directory is where a file should be; cbuff never makes directories there and never removes one. Move it away.")
        case .permissionDenied:
            (.permissionDenied, "Permission denied: cannot \(what).")
        case .readOnlyFilesystem:
            (.permissionDenied, "Read-only: cannot \(what), the data directory is on a read-only mount, where only reading (list, inspect, pop and tail without --reader) works.")
        case .noSpace:
            (.systemFailure, "No space left on the device: cannot \(what).")
        case .fileTooLarge:
            (.systemFailure, "File too large for the filesystem or this process's file-size limit: cannot \(what).")
        case .tooManyOpenFilesInProcess:
            (.systemFailure, "Too many open files: this process has as many open as its limit allows (ulimit -n \(Sys.openFileLimit.map(String.init) ?? "?")); cannot \(what). Raise the limit or close files.")
        case .tooManyOpenFilesInSystem:
            (.systemFailure, "Too many open files in the system (its limit is reached): cannot \(what).")
        case .nameTooLong:
            (.invalidArgument, "File name too long: cannot \(what). Choose a shorter data directory path.")
        case .outOfMemory:
            (.systemFailure, "Out of memory: cannot \(what).")
        case .inputOutput:
            (.systemFailure, "Input/output error (a failing disk or a lost network filesystem): cannot \(what).")
        case .busy:
            (.systemFailure, "Busy (held elsewhere): cannot \(what).")
        case .other:
            (.systemFailure, "Cannot \(what).")
        }
    }
}

/// A cause known only by its description (an SQLite message, for instance).
package struct UnderlyingError: Error, Sendable, CustomStringConvertible {
    package let description: String

    package init(description: String) {
        self.description = description
    }
}

extension Result where Failure == SystemCallFailure {
    /// Unwraps a system call's result, turning its failure into the ``CBuffFailure`` that
    /// `failure` builds.
    @inline(__always)
    package func orThrow(_ failure: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): throw failure(error)
        }
    }
}

extension String {
    /// Control characters (NUL included) written as `\u{1}`, so that a message stays one
    /// printable line whatever a name or a file holds.
    package var escapingControlCharacters: String {
        unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }
}
