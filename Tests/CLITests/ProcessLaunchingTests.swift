import Foundation
import Testing
import TestSupport

/// The tests start thousands of processes through Foundation's `Process`, whose `run()` reads up
/// to 256 bytes past each `/proc/self/fd` entry (see `launchingProcessesSafely`). The guard is
/// that glibc gives a directory's buffer a mapping of its own, with room after it: checked here
/// on the buffer itself, so that a glibc or Foundation change that undoes it fails this test
/// instead of crashing the suite one run in a few.
@Suite struct ProcessLaunchingTests {
    @Test func aDirectoryBufferHasAMappingOfItsOwn() throws {
        launchingProcessesSafely()
        let directory = try #require(opendir("/proc/self/fd"))
        defer { closedir(directory) }
        // glibc's chunk header: the size word just before the pointer malloc returned, whose
        // bit 1 (IS_MMAPPED) says the chunk is a mapping of its own.
        let size = UnsafeRawPointer(directory).load(fromByteOffset: -MemoryLayout<Int>.size, as: Int.self)
        #expect(size & 0x2 != 0, "the directory buffer (\(size & ~0x7) bytes) is in the heap: an over-read past it may fault")
        // And the room after the 32 KiB the entries may fill is more than the 256 bytes read.
        #expect((size & ~0x7) - 32 * 1024 - 2 * MemoryLayout<Int>.size >= 256 + 128, "chunk of \(size & ~0x7) bytes")
    }
}
