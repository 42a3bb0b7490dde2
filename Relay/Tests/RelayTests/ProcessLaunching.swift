import Foundation

/// Makes Foundation's `Process.run()` safe to call in this process; every place here that starts
/// a process calls it first.
///
/// On Linux, swift-corelibs-foundation's `Process.run()` (Swift 6.3.1) copies each
/// `/proc/self/fd` entry's whole 256-byte `d_name`, reading past the end of glibc's directory
/// buffer (swiftlang/swift-corelibs-foundation#5472, fixed after 6.3.1); when that buffer ends a
/// mapping, the copy faults (the root package's tests crashed on it in CI). With glibc's mmap
/// threshold at 32 KiB the buffer (32 KiB and a header) gets a mapping of its own, rounded up to
/// whole pages, about 4 KiB longer than the buffer: the over-read stays in memory that exists.
/// The root package's `TestSupport.launchingProcessesSafely` is the same, and its
/// `ProcessLaunchingTests` checks the effect on glibc's chunk header.
func launchingProcessesSafely() {
    _ = mallocThresholdSet
}

private let mallocThresholdSet: Void = {
    let mmapThreshold: CInt = -3   // M_MMAP_THRESHOLD in <malloc.h>, which Glibc's module does not import
    _ = glibcMallopt(mmapThreshold, 32 * 1024)
}()

/// glibc's `int mallopt(int param, int value)`.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: CInt, _ value: CInt) -> CInt
