package import SharedRingSystem

/// What cbuff accepts as its own in a data directory. The directory, the registry and the ring
/// files are input, not truth: another local user may have created the directory first, planted
/// a symbolic link, a FIFO or a device where a file should be, or made a file of their own. So a
/// data directory is used only when this user owns it and nobody else can write it, or when the
/// user asked for group sharing and belongs to its group; and every file in it is opened without
/// following a symbolic link or blocking, and used only if it is a regular file owned as
/// expected (by this user, or, in a directory shared with a group, by a member of that group).
///
/// Each thing is checked once, where it is used: the directory is opened once and checked
/// through that descriptor (`fstat`), and every file in it is reached relative to the
/// descriptor (`openat`, `fstatat`, `renameat`, `unlinkat`) and checked through what was opened,
/// never looked up by one call and opened by another. So what was checked is what is used, even
/// if someone renames or replaces a directory on the path meanwhile.
package struct FileTrust: Sendable, Hashable {
    /// The data directory's path, as the user gave it (for messages, and for SQLite, which
    /// opens files by path).
    package let directory: String
    /// The group whose members' files are trusted too; nil when the directory is private.
    let sharedGroup: UInt32?
    /// The directory, open.
    private let handle: DirectoryHandle
    /// The directory's device and inode, as its descriptor says.
    package let identity: Sys.FileIdentity
    /// The mode of the files cbuff creates in it: 0660 when it is shared with its group
    /// (every group permission set), else 0600.
    package let fileMode: UInt32
    /// This process's effective user: the owner of the files it trusts (read once, with the
    /// directory).
    private let user: UInt32

    /// Whether the directory lives in memory (tmpfs or ramfs, as `/dev/shm` does), where a
    /// machine crash loses every file whole; false when `fstatfs` cannot tell.
    package var isInMemory: Bool {
        (try? Sys.isInMemory(handle.descriptor).get()) ?? false
    }

    /// The sole owner of the directory's descriptor, closed when the last `FileTrust` (or ring
    /// file) using it goes. A class, so that copies share one descriptor.
    private final class DirectoryHandle: Sendable {
        let descriptor: CInt
        init(_ descriptor: CInt) { self.descriptor = descriptor }
        deinit { Sys.close(descriptor) }
    }

    /// Opens the data directory at `path` (which must exist), checks it through its descriptor,
    /// and returns what its files may be.
    ///
    /// A directory this user owns is shared with its group when it has every group permission
    /// (as `--group-access` creates it, or `chmod 2770`). A directory another user owns is
    /// used only when `acceptingGroupDirectory` (the API's `DataDirectory.Access.group`) and
    /// this user is in its group.
    package static func verify(directory path: String, acceptingGroupDirectory: Bool) throws(CBuffFailure) -> FileTrust {
        let fd: CInt
        switch Sys.openDirectory(path) {
        case .success(let opened): fd = opened
        case .failure(let failure) where failure.isNotFound:
            if case .success(let info?) = Sys.pathInfo(path), info.kind != .directory {
                throw CBuffFailure(.invalidArgument, "The data directory \(path) exists but is not a directory.")
            }
            throw CBuffFailure(.notFound, "The data directory \(path) does not exist.", cause: failure)
        case .failure(let failure):
            throw .system(failure, "open the data directory \(path)")
        }
        let handle = DirectoryHandle(fd)
        let info = try Sys.fileInfo(fd).orThrow { .system($0, "examine the data directory \(path)") }
        let me = Sys.effectiveUserID()
        if info.mode & 0o002 != 0 {
            throw CBuffFailure(.permissionDenied, "The data directory \(path) can be written by every user (mode \(String(info.mode, radix: 8))), so anyone could replace its files; cbuff does not use it. Choose a private one with --dir or CBUFF_DIR.")
        }
        // Writable by its group but not shared with it (every group permission, as chmod 2770
        // or --group-access make it): group members could rename or delete this user's files
        // while cbuff trusted the directory as private. Shared or private, not in between.
        let shared = info.mode & 0o070 == 0o070
        if info.mode & 0o020 != 0 && !shared {
            throw CBuffFailure(.permissionDenied, "The data directory \(path) can be written by its group (mode \(String(info.mode, radix: 8))) but is not shared with it; cbuff does not use it. Make it private (chmod 700) or shared with the group (chmod 2770).")
        }
        if info.owner != me {
            guard acceptingGroupDirectory, shared, Sys.isMember(ofGroup: info.group) else {
                let hint = acceptingGroupDirectory
                    ? "it is not shared with a group this user belongs to (mode \(String(info.mode, radix: 8)), group \(info.group))"
                    : "pass --group-access (DataDirectory.Access.group) to use a directory shared with your group"
                throw CBuffFailure(.permissionDenied, "Permission denied: the data directory \(path) belongs to user \(info.owner), not to this user (\(me)); \(hint).")
            }
        }
        return FileTrust(directory: path, sharedGroup: shared || info.owner != me ? info.group : nil, handle: handle,
                         identity: info.identity, fileMode: shared ? 0o660 : 0o600, user: me)
    }

    package static func == (a: FileTrust, b: FileTrust) -> Bool {
        a.directory == b.directory && a.identity == b.identity && a.sharedGroup == b.sharedGroup
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(directory)
        hasher.combine(identity)
        hasher.combine(sharedGroup)
    }

    /// The path of `entry`, a name in the directory (for messages, and for SQLite).
    package func path(of entry: String) -> String {
        directory + "/" + entry
    }

    /// Throws unless `info` describes a regular file owned as expected.
    package func check(_ info: Sys.FileInfo, _ entry: String, _ what: String) throws(CBuffFailure) {
        guard info.kind == .regular else {
            throw CBuffFailure(.corrupted, "The \(what) \(path(of: entry)) is \(Self.describe(info.kind)), not a regular file; cbuff does not open it. Remove it if it is not yours to keep.")
        }
        guard info.owner == user || (sharedGroup != nil && info.group == sharedGroup) else {
            throw CBuffFailure(.permissionDenied, "Permission denied: the \(what) \(path(of: entry)) belongs to user \(info.owner), not to this user (\(user)) nor to the directory's group; cbuff does not trust it.")
        }
    }

    /// Opens an existing file of the directory (read-write, or read-only) that must be a
    /// regular file owned as expected, checked through the descriptor opened. `notFound` is
    /// what to throw when it does not exist.
    package func open(_ entry: String, writable: Bool, _ what: String, notFound: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> (descriptor: CInt, info: Sys.FileInfo) {
        let fd = try opened(writable ? Sys.openReadWrite(at: handle.descriptor, entry) : Sys.openReadOnly(at: handle.descriptor, entry),
                            entry, what, doing: "open", notFound: notFound)
        return try checked(fd, entry, what)
    }

    /// Creates a file of the directory that must not exist yet, with the directory's file mode.
    package func createExclusive(_ entry: String, _ what: String) throws(CBuffFailure) -> CInt {
        try opened(Sys.createExclusive(at: handle.descriptor, entry, mode: fileMode), entry, what, doing: "create",
                   notFound: { .system($0, "create the \(what) \(path(of: entry))") })
    }

    /// Opens a file of the directory read-write, creating it (with the directory's file mode) if
    /// it does not exist; checked as ``open(_:writable:_:notFound:)`` checks.
    package func openOrCreate(_ entry: String, _ what: String) throws(CBuffFailure) -> (descriptor: CInt, info: Sys.FileInfo) {
        let fd = try opened(Sys.openOrCreate(at: handle.descriptor, entry, mode: fileMode), entry, what, doing: "open",
                            notFound: { .system($0, "open the \(what) \(path(of: entry))") })
        return try checked(fd, entry, what)
    }

    private func opened(_ result: Sys.Result<CInt>, _ entry: String, _ what: String, doing verb: String,
                        notFound: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> CInt {
        switch result {
        case .success(let fd): return fd
        case .failure(let failure) where failure.isNotFound: throw notFound(failure)
        case .failure(let failure) where failure.isSymbolicLink:
            throw CBuffFailure(.corrupted, "The \(what) \(path(of: entry)) is a symbolic link; cbuff opens only regular files. Remove the link.", cause: failure)
        case .failure(let failure) where failure.isSpecialFile:   // a FIFO without a reader, a socket
            throw CBuffFailure(.corrupted, "The \(what) \(path(of: entry)) is not a regular file; cbuff does not open it.", cause: failure)
        case .failure(let failure):
            throw .system(failure, "\(verb) the \(what) \(path(of: entry))")
        }
    }

    private func checked(_ fd: CInt, _ entry: String, _ what: String) throws(CBuffFailure) -> (descriptor: CInt, info: Sys.FileInfo) {
        do throws(CBuffFailure) {
            let info = try Sys.fileInfo(fd).orThrow { .system($0, "examine the \(what) \(path(of: entry))") }
            try check(info, entry, what)
            return (fd, info)
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// Checks, without opening it, a file that may be absent (SQLite's registry files, which
    /// SQLite itself opens by path): absent is fine (nil), anything else must be a regular file
    /// owned as expected, whose description is returned.
    @discardableResult
    package func checkIfPresent(_ entry: String, _ what: String) throws(CBuffFailure) -> Sys.FileInfo? {
        guard let info = try Sys.linkInfo(at: handle.descriptor, entry).orThrow({ .system($0, "examine the \(what) \(path(of: entry))") }) else {
            return nil
        }
        if info.kind == .symbolicLink {
            throw CBuffFailure(.corrupted, "The \(what) \(path(of: entry)) is a symbolic link; cbuff opens only regular files. Remove the link.")
        }
        try check(info, entry, what)
        return info
    }

    /// What kind of thing `entry` names (a symbolic link itself, never followed), or nil when
    /// nothing does; nil too when that cannot be examined (the open that follows reports why).
    package func kind(of entry: String) -> Sys.FileInfo.Kind? {
        info(of: entry)?.kind
    }

    /// What `entry` names (a symbolic link itself, never followed), or nil when nothing does or
    /// that cannot be examined.
    package func info(of entry: String) -> Sys.FileInfo? {
        guard case .success(let info?) = Sys.linkInfo(at: handle.descriptor, entry) else { return nil }
        return info
    }

    /// Gives file `from` the name `to` (atomically replacing whatever was there: a planted link
    /// or FIFO is replaced, never followed).
    package func rename(_ from: String, to: String) -> Sys.Result<Void> {
        Sys.rename(at: handle.descriptor, from, to)
    }

    /// Removes the name `entry` (a symbolic link itself, never its target).
    package func unlink(_ entry: String) -> Sys.Result<Void> {
        Sys.unlink(at: handle.descriptor, entry)
    }

    /// Makes the directory's entries durable: the names renames and unlinks gave or took
    /// survive a machine crash once this returns (see `Sys.synchronizeDirectory`). `after` says
    /// what changed them, for the sentence of a failure.
    package func synchronize(after what: String) throws(CBuffFailure) {
        try Sys.synchronizeDirectory(at: handle.descriptor).orThrow { .system($0, "make the data directory \(directory) durable after \(what)") }
    }

    /// Whether `entry` still names the file open as `fd`.
    package func names(_ fd: CInt, _ entry: String) -> Bool {
        Sys.isSameFile(fd, at: handle.descriptor, entry)
    }

    /// The names in the directory.
    package func entries() throws(CBuffFailure) -> [String] {
        try Sys.directoryEntries(of: handle.descriptor).orThrow { .system($0, "list the data directory \(directory)") }
    }

    /// The directory's path with every symbolic link resolved (what SQLite opens), or nil.
    package var resolvedPath: String? {
        Sys.resolvedPath(handle.descriptor)
    }

    /// Whether this process can open about `count` more descriptors now (see
    /// `Sys.hasFreeDescriptors`).
    package func hasFreeDescriptors(_ count: Int) -> Bool {
        Sys.hasFreeDescriptors(count, duplicating: handle.descriptor)
    }

    /// Whether the directory is on a filesystem mounted read-only.
    package var isReadOnly: Bool {
        Sys.isOnReadOnlyFilesystem(handle.descriptor)
    }

    private static func describe(_ kind: Sys.FileInfo.Kind) -> String {
        switch kind {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .device: "a device"
        case .other: "a special file"
        }
    }
}
