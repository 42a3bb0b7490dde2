package import SharedRingSystem

/// What cbuff accepts as its own in a data directory. The directory, the registry and the ring
/// files are input, not truth: another local user may have created the directory first, planted
/// a symbolic link, a FIFO or a device where a file should be, or made a file of their own. So a
/// data directory is used only when this user owns it and nobody else can write it, or when the
/// user asked for group sharing and belongs to its group; and every file in it is opened without
/// following a symbolic link or blocking, and used only if it is a regular file owned as
/// expected (by this user, or, in a directory shared with a group, by a member of that group).
package struct FileTrust: Sendable, Hashable {
    /// The data directory.
    package let directory: String
    /// The group whose members' files are trusted too; nil when the directory is private.
    let sharedGroup: UInt32?

    /// Checks the data directory at `path` (which must exist) and returns what its files may be.
    ///
    /// A directory this user owns is shared with its group when it has every group permission
    /// (as `--group-access` creates it, or `chmod 2770`). A directory another user owns is
    /// used only when `acceptingGroupDirectory` (the API's `DataDirectory.Access.group`) and
    /// this user is in its group.
    package static func verify(directory path: String, acceptingGroupDirectory: Bool) throws(CBuffFailure) -> FileTrust {
        guard let info = try Sys.pathInfo(path).orThrow({ .system($0, "examine the data directory \(path)") }) else {
            throw CBuffFailure(.notFound, "The data directory \(path) does not exist.")
        }
        guard info.kind == .directory else {
            throw CBuffFailure(.invalidArgument, "The data directory \(path) exists but is not a directory.")
        }
        let me = Sys.effectiveUserID()
        if info.mode & 0o002 != 0 {
            throw CBuffFailure(.permissionDenied, "The data directory \(path) can be written by every user (mode \(String(info.mode, radix: 8))), so anyone could replace its files; cbuff does not use it. Choose a private one with --dir or CBUFF_DIR.")
        }
        // Writable by its group but not shared with it (every group permission, as chmod 2770
        // or --group-access make it): group members could rename or delete this user's files
        // while cbuff trusted the directory as private. Shared or private, not in between.
        if info.mode & 0o020 != 0 && info.mode & 0o070 != 0o070 {
            throw CBuffFailure(.permissionDenied, "The data directory \(path) can be written by its group (mode \(String(info.mode, radix: 8))) but is not shared with it; cbuff does not use it. Make it private (chmod 700) or shared with the group (chmod 2770).")
        }
        if info.owner != me {
            guard acceptingGroupDirectory, info.mode & 0o070 == 0o070, Sys.isMember(ofGroup: info.group) else {
                let hint = acceptingGroupDirectory
                    ? "it is not shared with a group this user belongs to (mode \(String(info.mode, radix: 8)), group \(info.group))"
                    : "pass --group-access (DataDirectory.Access.group) to use a directory shared with your group"
                throw CBuffFailure(.permissionDenied, "Permission denied: the data directory \(path) belongs to user \(info.owner), not to this user (\(me)); \(hint).")
            }
            return FileTrust(directory: path, sharedGroup: info.group)
        }
        return FileTrust(directory: path, sharedGroup: info.mode & 0o070 == 0o070 ? info.group : nil)
    }

    /// Throws unless `info` describes a regular file owned as expected.
    package func check(_ info: Sys.FileInfo, _ path: String, _ what: String) throws(CBuffFailure) {
        guard info.kind == .regular else {
            throw CBuffFailure(.corrupted, "The \(what) \(path) is \(Self.describe(info.kind)), not a regular file; cbuff does not open it. Remove it if it is not yours to keep.")
        }
        guard info.owner == Sys.effectiveUserID() || (sharedGroup != nil && info.group == sharedGroup) else {
            throw CBuffFailure(.permissionDenied, "Permission denied: the \(what) \(path) belongs to user \(info.owner), not to this user (\(Sys.effectiveUserID())) nor to the directory's group; cbuff does not trust it.")
        }
    }

    /// Opens an existing file (read-write, or read-only) that must be a regular file owned as
    /// expected. `notFound` is what to throw when it does not exist.
    package func open(_ path: String, writable: Bool, _ what: String, notFound: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> (descriptor: CInt, info: Sys.FileInfo) {
        let fd: CInt
        switch writable ? Sys.openReadWrite(path) : Sys.openReadOnly(path) {
        case .success(let opened): fd = opened
        case .failure(let failure) where failure.isNotFound: throw notFound(failure)
        case .failure(let failure) where failure.isSymbolicLink:
            throw CBuffFailure(.corrupted, "The \(what) \(path) is a symbolic link; cbuff opens only regular files. Remove the link.", cause: failure)
        case .failure(let failure) where failure.isSpecialFile:   // a FIFO without a reader, a socket
            throw CBuffFailure(.corrupted, "The \(what) \(path) is not a regular file; cbuff does not open it.", cause: failure)
        case .failure(let failure):
            throw .system(failure, "open the \(what) \(path)")
        }
        do throws(CBuffFailure) {
            let info = try Sys.fileInfo(fd).orThrow { .system($0, "examine the \(what) \(path)") }
            try check(info, path, what)
            return (fd, info)
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// Checks, without opening it, a file that may be absent (SQLite's registry files, which
    /// SQLite itself opens): absent is fine, anything else must be a regular file owned as
    /// expected.
    package func checkIfPresent(_ path: String, _ what: String) throws(CBuffFailure) {
        guard let info = try Sys.linkInfo(path).orThrow({ .system($0, "examine the \(what) \(path)") }) else { return }
        if info.kind == .symbolicLink {
            throw CBuffFailure(.corrupted, "The \(what) \(path) is a symbolic link; cbuff opens only regular files. Remove the link.")
        }
        try check(info, path, what)
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
