internal import SharedRingCommon
internal import SharedRingSystem

/// The one error type of SharedRing: a stable ``Code`` to match on, a sentence for people, and
/// the underlying cause (a failed system call, an SQLite error) when there is one.
///
/// Match on the code, never on the message, which may be reworded:
///
/// ```swift
/// func openWriter(_ directory: DataDirectory) throws(CBuffError) -> BufferWriter {
///     do {
///         return try directory.createBuffer("ticks", itemSize: 8, length: 1024)
///     } catch where error.code == .bufferAlreadyCreated {
///         return try directory.takeOver("ticks")   // someone created it first
///     }
/// }
/// ```
///
/// (`catch CBuffError.Code.bufferAlreadyCreated { … }` matches too, but Swift 6.3.1 crashes on
/// it when the `do` binds a non-copyable writer or reader; the README's Troubleshooting has
/// the shapes to avoid.)
///
/// The seed library's exceptions map to codes: `CBuffException` is ``CBuffError`` itself,
/// `WriteOperationsForbidden`, `ReadOperationsForbidden` and `BufferAlreadyCreated` are
/// ``Code/writeOperationsForbidden``, ``Code/readOperationsForbidden`` and
/// ``Code/bufferAlreadyCreated``.
public struct CBuffError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: UInt8
        private init(_ raw: UInt8) { self.raw = raw }

        /// The code of a failure of the layers below (same raw values).
        init(_ code: CBuffFailure.Code) { self.init(code.rawValue) }

        /// No buffer of that name is registered.
        public static let notFound = Code(1)
        /// A buffer of that name exists already (its writer alive or gone).
        public static let bufferAlreadyCreated = Code(2)
        /// A write operation was called on a reader.
        public static let writeOperationsForbidden = Code(3)
        /// A read operation was called on a writer.
        public static let readOperationsForbidden = Code(4)
        /// A name, size, length, timeout or option is out of range.
        public static let invalidArgument = Code(5)
        /// A value does not fit in the buffer's item size (it is refused, never truncated).
        public static let valueDoesNotFit = Code(6)
        /// A ring file or the registry is damaged, truncated, or disagrees with the other.
        public static let corrupted = Code(7)
        /// A live writer holds the buffer.
        public static let writerBusy = Code(8)
        /// The operating system refused access to a file or directory.
        public static let permissionDenied = Code(9)
        /// The buffer was closed.
        public static let closed = Code(10)
        /// Any other failure of the system or of SQLite (full disk, I/O error, …).
        public static let systemFailure = Code(11)
        /// A live process already uses that named reader.
        public static let readerBusy = Code(12)
        /// A lock another process holds (the registry's, a ring's reader table) stayed held for
        /// the whole lock timeout (see ``DataDirectory/lockTimeout``); the message names the holder.
        public static let timedOut = Code(13)
        /// A buffer was opened as items of a type whose size (or alignment) is not its own.
        public static let typeMismatch = Code(14)

        /// The code in words ("not found", "timed out"), for messages and logs.
        public var description: String {
            switch self {
            case .notFound: "not found"
            case .bufferAlreadyCreated: "buffer already created"
            case .writeOperationsForbidden: "write operations forbidden"
            case .readOperationsForbidden: "read operations forbidden"
            case .invalidArgument: "invalid argument"
            case .valueDoesNotFit: "value does not fit"
            case .corrupted: "corrupted"
            case .writerBusy: "writer busy"
            case .permissionDenied: "permission denied"
            case .closed: "closed"
            case .readerBusy: "reader busy"
            case .timedOut: "timed out"
            case .typeMismatch: "type mismatch"
            default: "system failure"
            }
        }

        /// Lets `catch CBuffError.Code.notFound { … }` match a thrown ``CBuffError``.
        public static func ~= (code: Code, error: any Error) -> Bool {
            (error as? CBuffError)?.code == code
        }
    }

    /// The kind of failure.
    public let code: Code
    /// One sentence saying what went wrong, naming the buffer or file, and what to do about it.
    public let message: String
    /// What caused it, if anything below SharedRing failed (a ``SystemCallError``, an SQLite error).
    public let cause: (any Error & Sendable)?

    /// An error with a code of your choosing (for code that wraps SharedRing and reports in
    /// its terms).
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The public face of a failure of the layers below: the same code and sentence, and a
    /// failed system call as a ``SystemCallError``.
    init(_ failure: CBuffFailure) {
        let cause: (any Error & Sendable)? = if let call = failure.cause as? SystemCallFailure {
            SystemCallError(call)
        } else {
            failure.cause
        }
        self.init(Code(failure.code), failure.message, cause: cause)
    }

    /// The message, followed by the cause in parentheses when there is one.
    public var description: String {
        guard let cause else { return message }
        return "\(message) (\(cause))"
    }
}

extension CBuffError {
    /// The refusal of a push that would take a buffer's counters beyond the most a ring file
    /// counts (`Limits.maxCount`, 2^63 − 1): the end of the sequence space, which no writer
    /// reaches (292 years at a billion a second), so the header was damaged or forged. A push
    /// there never waits: no reader can make room.
    static func countsExhausted(_ name: String, at position: UInt64) -> CBuffError {
        CBuffError(.corrupted, "Buffer \"\(name)\" cannot take another push: its counters stand at \(position), and the next push would take them beyond the \(Limits.maxCount) a ring file can count (a billion pushes a second reach that after 292 years, so its header was damaged or forged); nothing was pushed. Remove the buffer and create it again.")
    }

    /// What a named reader throws once it finds its record removed under it (`cbuff reader rm
    /// --force` while it was open; see `ReaderCommit.isRemoved`): its name no longer names it.
    @usableFromInline @inline(never)
    static func readerRemoved(_ name: String, reader: String?) -> CBuffError {
        CBuffError(.notFound, "Named reader \"\(reader ?? "?")\" of buffer \"\(name)\" was removed (cbuff reader rm --force) while this process was reading it; it reads nothing more, and what it read since its last commit is recorded nowhere.")
    }
}

/// The seed library's name for the base of its errors.
public typealias CBuffException = CBuffError

/// A system call that failed, with its errno: the ``CBuffError/cause`` of a failure the
/// operating system reported.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name of the system call, for example `open` or `mmap`.
    public let call: String
    /// The errno it reported.
    public let errno: Int32
    /// "open: No such file or directory (errno 2)".
    public let description: String

    init(_ failure: SystemCallFailure) {
        call = failure.call
        errno = failure.errno
        description = failure.description
    }
}

/// Runs the body of a public entry point, whose steps throw the layers' ``CBuffFailure``, and
/// throws what it throws as a ``CBuffError``: the one place where one becomes the other.
@inline(__always)
func lifted<T: ~Copyable>(_ body: () throws(CBuffFailure) -> T) throws(CBuffError) -> T {
    do {
        return try body()
    } catch {
        throw CBuffError(error)
    }
}
