internal import SharedRingSystem
internal import SharedRingCommon
internal import SharedRingRegistry
internal import SharedRingProtocol

/// A directory holding a registry (`registry.sqlite`) and the ring files it lists; every buffer
/// lives in exactly one. This is where buffers are created, opened, taken over and removed.
///
/// ```swift
/// let directory = DataDirectory.resolve()          // $CBUFF_DIR, else the per-user default
/// var writer = try directory.createBuffer("ticks", itemSize: 8, length: 1024)
/// var reader = try directory.openReader("ticks")   // item size and length come from the registry
/// try writer.push(42)
/// try reader.popItem()                              // 42
/// ```
///
/// Creating the directory object does nothing on disk; the first operation creates the
/// directory and its registry if needed. A directory under `/dev/shm` keeps the rings in
/// memory; anywhere else they persist on disk.
///
/// ### Permissions
///
/// By default everything is private to its owner: directories 0700, the registry and ring files
/// 0600. A directory created with ``Access/group`` is 2770 instead (set-group-ID, so that what
/// is created in it gets its group), and every file created in it 0660: the users of that group
/// can then create, feed and read its buffers. Files follow the directory's actual mode, so an
/// existing directory can be shared later with `chgrp GROUP DIR; chmod 2770 DIR` (files created
/// before keep their mode).
///
/// ### Trust
///
/// The directory and everything in it are input. A directory is used only if this user owns it
/// and no other user can write it, or, with ``Access/group``, if it is shared with a group this
/// user belongs to; every file in it is opened without following symbolic links and used only if
/// it is a regular file owned by this user (or by the sharing group). Anything else is a
/// ``CBuffError/Code/permissionDenied`` or ``CBuffError/Code/corrupted`` error naming the file.
///
/// ### Waiting
///
/// An operation that needs a lock another process holds (the registry's, a ring's reader table)
/// waits at most ``lockTimeout``, then fails with ``CBuffError/Code/timedOut`` naming the holder.
public struct DataDirectory: Sendable, Hashable, CustomStringConvertible {
    /// The directory's path.
    public let path: String
    /// Who may use the directory: what this process creates it with, and whether a directory
    /// shared with a group (owned by another member) is accepted.
    public let access: Access
    /// How long an operation waits for a lock another process holds before it gives up.
    public let lockTimeout: Duration
    /// Whether the path is the per-user default rather than one the user chose: only then does
    /// a missing directory read as "no buffers yet" instead of "not found".
    let isDefault: Bool
    /// Why this directory cannot be used, when it came from the environment as bytes that are
    /// not UTF-8 (a path is text to cbuff; repaired, it would name another directory): every
    /// operation refuses it with this sentence (see ``trust()``).
    let refusal: String?

    /// Who may use the buffers of a data directory.
    public enum Access: Sendable, Hashable {
        /// The owner only: directories 0700, files 0600.
        case owner
        /// The owner and the directory's group: directories 2770, files 0660; a directory
        /// another member of its group created is accepted too.
        case group
    }

    /// The default ``lockTimeout``.
    public static let defaultLockTimeout: Duration = .seconds(5)

    /// A data directory at `path` (nothing is created until the first operation needs it).
    ///
    /// - Parameters:
    ///   - path: the directory; a trailing slash is ignored.
    ///   - access: who may use it (``Access/owner``, the default, or ``Access/group``).
    ///   - lockTimeout: how long an operation waits for a lock another process holds.
    public init(path: String, access: Access = .owner, lockTimeout: Duration = DataDirectory.defaultLockTimeout) {
        self.init(path: path, access: access, lockTimeout: lockTimeout, isDefault: false)
    }

    init(path: String, access: Access, lockTimeout: Duration, isDefault: Bool, refusal: String? = nil) {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        self.access = access
        self.lockTimeout = lockTimeout
        self.isDefault = isDefault
        self.refusal = refusal
    }

    /// The directory given, else `$CBUFF_DIR`, else ``defaultPath``. A variable of these whose
    /// bytes are not UTF-8 gives a directory every operation refuses, saying so.
    public static func resolve(_ explicitPath: String? = nil, access: Access = .owner,
                               lockTimeout: Duration = DataDirectory.defaultLockTimeout) -> DataDirectory {
        if let explicitPath, !explicitPath.isEmpty { return DataDirectory(path: explicitPath, access: access, lockTimeout: lockTimeout) }
        switch Sys.environmentValue("CBUFF_DIR") {
        case .text(let fromEnvironment) where !fromEnvironment.isEmpty:
            return DataDirectory(path: fromEnvironment, access: access, lockTimeout: lockTimeout)
        case .notText(let repaired):
            return DataDirectory(path: repaired, access: access, lockTimeout: lockTimeout, isDefault: false,
                                 refusal: Self.notText("CBUFF_DIR", repaired))
        case .text, .absent:
            let (path, refusal) = defaultPathAndRefusal
            return DataDirectory(path: path, access: access, lockTimeout: lockTimeout, isDefault: true, refusal: refusal)
        }
    }

    /// The per-user default: `$XDG_DATA_HOME/cbuff`, else `$HOME/.local/share/cbuff`, else
    /// `$XDG_RUNTIME_DIR/cbuff` (a private per-user directory, in memory), else `/tmp/cbuff-UID`.
    /// The last is used only if this user owns it and nobody else can write it: a directory
    /// another user created there first is refused with an error, never used.
    public static var defaultPath: String { defaultPathAndRefusal.path }

    /// ``defaultPath``, and why it cannot be used if the variable it comes from is not UTF-8
    /// (a later variable is not tried instead: that would put the buffers somewhere else).
    static var defaultPathAndRefusal: (path: String, refusal: String?) {
        for (variable, suffix) in [("XDG_DATA_HOME", "/cbuff"), ("HOME", "/.local/share/cbuff"), ("XDG_RUNTIME_DIR", "/cbuff")] {
            switch Sys.environmentValue(variable) {
            case .text(let base) where base.hasPrefix("/"): return (base + suffix, nil)
            case .notText(let repaired) where repaired.hasPrefix("/"): return (repaired + suffix, notText(variable, repaired))
            case .text, .notText, .absent: continue
            }
        }
        return ("/tmp/cbuff-\(Sys.userID())", nil)
    }

    /// The sentence that refuses a directory named by `variable`'s bytes that are not UTF-8.
    static func notText(_ variable: String, _ repaired: String) -> String {
        "\(variable) holds bytes that are not UTF-8 (\(repaired.debugDescription), each shown as U+FFFD): cbuff names its data directory by text. Rename that directory, or give another one with --dir or CBUFF_DIR."
    }

    var lockTimeoutNanos: Int64 { lockTimeout.nanoseconds }

    /// The directory's path.
    public var description: String { path }

    /// The path of the ring file of buffer `name`.
    public func ringPath(of name: String) -> String {
        entryPath(BufferRow.fileName(of: name))
    }

    // MARK: Paths (every path in the directory is built here)

    /// The path of `entry`, a name in this directory.
    func entryPath(_ entry: String) -> String {
        path + "/" + entry
    }

    /// Where a creator builds a ring file before giving it its name: `.NAME.PID.RANDOM.tmp`
    /// (see ``removeDebris()``, which reads the PID back), a name in the directory.
    func temporaryRingEntry(of name: String) -> String {
        ".\(name).\(Sys.processID()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// The PID a temporary ring file's name records, or nil if `entry` is not one.
    static func creatorOfTemporaryRing(_ entry: String) -> Int32? {
        guard entry.hasPrefix("."), entry.hasSuffix(".tmp") else { return nil }
        let parts = entry.dropFirst().dropLast(4).split(separator: ".")
        return parts.count >= 3 ? Int32(parts[parts.count - 2]) : nil
    }

    // MARK: The directory itself

    /// The mode of a directory this process creates.
    var directoryMode: UInt32 { access == .group ? 0o2770 : 0o700 }

    /// The registry, creating the directory and the registry if needed: for creators.
    func registry() throws(CBuffFailure) -> Registry {
        let trust: FileTrust
        do {
            trust = try self.trust()
        } catch where error.code == .notFound {
            try makeDirectories(mode: directoryMode)
            trust = try self.trust()
        }
        // Never nil when creating.
        return try Registry.open(trust, creating: true, lockTimeoutNanos: lockTimeoutNanos)!
    }

    /// The registry if this directory has one yet, for lookups, which create nothing: nil when
    /// it has none. A directory the user chose that does not exist is "not found" (only the
    /// per-user default may simply not exist yet); one this process may not enter or may not
    /// trust, or a file where the directory should be, is an error.
    func existingRegistry() throws(CBuffFailure) -> Registry? {
        guard let trust = try existingTrust() else { return nil }
        return try Registry.open(trust, creating: false, lockTimeoutNanos: lockTimeoutNanos)
    }

    /// The directory, checked (``trust()``), or nil when it is the default one and does not
    /// exist yet.
    func existingTrust() throws(CBuffFailure) -> FileTrust? {
        do {
            return try self.trust()
        } catch where error.code == .notFound && isDefault {
            return nil
        }
    }

    /// Opens the directory and checks it (see "Trust" above): what its files may be. Each
    /// operation does this once, and reaches every file through what it returns.
    func trust() throws(CBuffFailure) -> FileTrust {
        if let refusal { throw CBuffFailure(.invalidArgument, refusal) }
        return try FileTrust.verify(directory: path, acceptingGroupDirectory: access == .group)
    }

    /// `mkdir -p`, giving what it creates `mode`.
    private func makeDirectories(mode: UInt32) throws(CBuffFailure) {
        if Sys.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if Sys.isDirectory(prefix) { continue }
            try Sys.makeDirectory(prefix, mode: mode).orThrow { .system($0, "create the data directory \(prefix)") }
        }
        guard Sys.isDirectory(path) else {
            throw CBuffFailure(.invalidArgument, "The data directory \(path) exists but is not a directory.")
        }
    }
}

/// Where a new reader starts.
public enum ReadStart: Sendable, Hashable, CaseIterable {
    /// The oldest item still in the ring (the seed library's behaviour).
    case oldest
    /// Only items pushed after the reader opened.
    case latest
}

extension ReadStart {
    /// Where a cursor starts.
    var cursorStart: RingCursor.Start { self == .oldest ? .oldest : .latest }
    var messageStart: MessageCursor.Start { self == .oldest ? .oldest : .latest }
}
