// Test-only fault injection over every system call of this layer (the C side is
// CSharedRingShims/FaultInjection.c). Every wrapper in Syscalls.swift asks `injected(_:)` before
// it calls the kernel; in a debug build the answer may be "fail with this errno", in a release
// build it is always nil and the check compiles away.
//
// Tests drive it two ways: a thread arms itself (`arm(failingCall:errno:)`) and runs an
// operation in-process, which leaves other tests' threads alone; or a test starts the debug
// `cbuff` binary (or the relay's) with `CBUFF_FAULT=N:ERRNO` in its environment, and the Nth call
// of that process fails and says so in one line on standard error ("cbuff fault injection:
// system call N (NAME) fails with errno E"): a run without that line made fewer than N calls.
// Release binaries ignore the variable.
internal import CSharedRingShims
@preconcurrency internal import Glibc

package enum FaultInjection {
    /// Whether this build injects faults at all (debug builds only).
    package static var isAvailable: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }

    /// The errno the call about to be made must fail with, or nil to make it.
    @inline(__always)
    static func injected(_ call: StaticString) -> Int32? {
        #if DEBUG
        _ = processArmed
        let code = csr_fault_take(UnsafeRawPointer(call.utf8Start).assumingMemoryBound(to: CChar.self))
        return code == 0 ? nil : code
        #else
        return nil
        #endif
    }

    #if DEBUG
    /// Reads `CBUFF_FAULT=N:ERRNO` once, on the first system call.
    private static let processArmed: Bool = {
        guard let value = getenv("CBUFF_FAULT").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let nth = Int(parts[0]), nth > 0, let code = Int32(parts[1]), code > 0 else { return false }
        csr_fault_arm_process(nth, code)
        return true
    }()
    #endif

    /// Arms the calling thread: its system calls are counted and named from now on, and the
    /// `nth` (1-based; 0 only counts) fails with `errno`. Other threads are not affected.
    package static func arm(failingCall nth: Int, errno: Int32) {
        csr_fault_arm(nth, errno)
    }

    /// Stops counting and injecting on the calling thread.
    package static func disarm() {
        csr_fault_disarm()
    }

    /// Whether the armed failure was injected (the operation made at least `nth` calls).
    package static var fired: Bool { csr_fault_fired() != 0 }

    /// The names of the calls the calling thread made since it was armed, in order.
    package static var calls: [String] {
        (0..<csr_fault_calls()).map { index in csr_fault_call_name(index).map { String(cString: $0) } ?? "?" }
    }
}
