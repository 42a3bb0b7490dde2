// What SharedRing reads from /proc: process start times (liveness that survives PID reuse),
// process names, and who holds a lock (for the sentence a bounded wait ends with). Read with
// read(2): Foundation's file reading cuts /proc files short.
@preconcurrency internal import Glibc

extension Sys {
    /// The start time of process `pid` in clock ticks after boot (field 22 of /proc/PID/stat),
    /// or nil if there is no such process. With the PID it identifies a process even when PIDs
    /// are reused.
    package static func processStartTime(_ pid: Int32) -> UInt64? {
        guard pid > 0, let bytes = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // Field 2 (comm) is in parentheses and may itself hold spaces or ')': split after the
        // last ')'. Then field 3 is the first field, and field 22 the twentieth.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// This boot's identity: the 16 bytes of `/proc/sys/kernel/random/boot_id` (a UUID the
    /// kernel draws at each boot), read once per process; nil if it cannot be read or parsed.
    /// A debug build takes `CBUFF_TEST_BOOT_ID` (the same form) instead, so that tests can
    /// stand in for a reboot.
    package static var bootID: (UInt64, UInt64)? { knownBootID }

    private static let knownBootID: (UInt64, UInt64)? = {
        #if DEBUG
        if let text = getenv("CBUFF_TEST_BOOT_ID") { return parseBootID(Array(String(cString: text).utf8)) }
        #endif
        return readSmallFile("/proc/sys/kernel/random/boot_id").flatMap(parseBootID)
    }()

    /// A debug build kills this process (SIGKILL) here when `CBUFF_TEST_KILL_AT` names `point`:
    /// tests stand in for a crash at a known point of an operation of several steps (a
    /// recovery). Nothing in a release build.
    package static func testKillPoint(_ point: StaticString) {
        #if DEBUG
        if let text = getenv("CBUFF_TEST_KILL_AT"), String(cString: text) == point.description { kill(getpid(), SIGKILL) }
        #endif
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (a newline after it allowed) as two words, the
    /// first eight bytes of the UUID in the first, little-endian as the file stores them; nil
    /// for anything else, or for the all-zero UUID (zero is "not recorded" in a ring file).
    static func parseBootID(_ bytes: [UInt8]) -> (UInt64, UInt64)? {
        let hex = bytes.prefix { $0 != 0x0A }.filter { $0 != UInt8(ascii: "-") }
        guard hex.count == 32, bytes.prefix(while: { $0 != 0x0A }).count == 36 else { return nil }
        var value: [UInt8] = []
        for index in stride(from: 0, to: 32, by: 2) {
            guard let byte = UInt8(String(decoding: hex[index..<(index + 2)], as: UTF8.self), radix: 16) else { return nil }
            value.append(byte)
        }
        let words = value.withUnsafeBytes { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        return words == (0, 0) ? nil : (UInt64(littleEndian: words.0), UInt64(littleEndian: words.1))
    }

    /// The command name of process `pid` (/proc/PID/comm), or nil.
    package static func processName(_ pid: Int32) -> String? {
        guard pid > 0, let bytes = readSmallFile("/proc/\(pid)/comm") else { return nil }
        let name = String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    /// The processes holding a lock that covers byte `start` of the file `identity`, found in
    /// /proc/*/fdinfo (the only place the kernel names the owner of an open-file-description
    /// lock). A scan of every process's descriptors: for the end of a wait that timed out, never
    /// for a hot path. Processes this one may not examine are not listed.
    package static func lockHolders(of identity: FileIdentity, coveringByte start: Int) -> [Int32] {
        guard case .success(let processes) = directoryEntries("/proc") else { return [] }
        let inode = String(identity.inode)
        var holders: [Int32] = []
        for entry in processes {
            guard let pid = Int32(entry), pid != processID(),
                  case .success(let descriptors) = directoryEntries("/proc/\(entry)/fdinfo") else { continue }
            for descriptor in descriptors {
                guard let info = readSmallFile("/proc/\(entry)/fdinfo/\(descriptor)") else { continue }
                let text = String(decoding: info, as: UTF8.self)
                if text.split(separator: "\n").contains(where: { lockLine($0, inode: inode, covers: start) }) {
                    holders.append(pid)
                    break
                }
            }
        }
        return holders
    }

    /// Whether a `lock:` line of fdinfo (`lock:\t1: OFDLCK ADVISORY WRITE -1 fe:00:1234 64 64`,
    /// or `... 0 EOF`) is on inode `inode` and covers byte `start`.
    private static func lockLine(_ line: Substring, inode: String, covers start: Int) -> Bool {
        guard line.hasPrefix("lock:") else { return false }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 8, words[6].split(separator: ":").last.map(String.init) == inode,
              let first = Int(words[7]) else { return false }
        let last = words.count > 8 ? (words[8] == "EOF" ? Int.max : Int(words[8]) ?? -1) : Int.max
        return first <= start && start <= last
    }

    /// The whole of a small file (at most 4 KiB), or nil.
    private static func readSmallFile(_ path: String) -> [UInt8]? {
        guard case .success(let fd) = open(path, O_RDONLY) else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        guard case .success(let n) = bytes.withUnsafeMutableBytes({ read(fd, into: $0, at: 0) }), n > 0 else { return nil }
        return Array(bytes[..<n])
    }
}
