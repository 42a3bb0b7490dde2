import CRC32C
#if canImport(Glibc)
import Glibc
#endif

// Times the item check (CRC32C over an 8-byte sequence and an 8-byte item: two crc32
// instructions) called from Swift through the header-only module, against the same loop in C.
// Prints bench=… lines; run.sh adds the instruction counts from the disassembly.

@inline(never)
func swiftLoopAsm(_ n: UInt64) -> UInt64 {
    var acc: UInt64 = 0
    for i in 0..<n { acc &+= UInt64(crc32c_item8(i, i &* 0x9E37_79B9_7F4A_7C15)) }
    return acc
}

@inline(never)
func swiftLoopBuiltin(_ n: UInt64) -> UInt64 {
    var acc: UInt64 = 0
    for i in 0..<n { acc &+= UInt64(crc32c_item8_builtin(i, i &* 0x9E37_79B9_7F4A_7C15)) }
    return acc
}

func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

guard crc32c_hardware_available() != 0, crc32c_init() == 0 else {
    print("CRC32C: no SSE4.2 or the self-test failed")
    exit(1)
}
let n: UInt64 = CommandLine.arguments.count > 1 ? UInt64(CommandLine.arguments[1])! : 100_000_000
let rounds = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 7
let loops: [(String, (UInt64) -> UInt64)] = [("c", crc32c_c_loop), ("swift_asm", swiftLoopAsm), ("swift_builtin", swiftLoopBuiltin)]
var times = [String: [Double]]()
var results = Set<UInt64>()
for round in 0..<rounds {   // alternate the three in short rounds, order reversed every other one
    for (name, loop) in round % 2 == 0 ? loops : loops.reversed() {
        let t0 = nanoseconds()
        results.insert(loop(n))
        times[name, default: []].append(Double(nanoseconds() - t0) / Double(n))
    }
}
guard results.count == 1 else { print("the loops disagree: \(results)"); exit(1) }
for (name, _) in loops {
    let sorted = times[name]!.sorted()
    print("bench=crc32c_item8_\(name) metric=ns_per_check_median value=\(sorted[sorted.count / 2]) unit=ns rounds=\(rounds)")
}
