import SharedRing

/// The seed library's README session, in Swift. The data directory is $CBUFF_DIR, else the
/// per-user default; the buffer is removed at the end.
@main
struct SeedSession {
    static func main() throws {
        let writer = try SharedCircularBuffer(name: "shared_buffer_a", create: true, length: 5)
        defer { try? SharedCircularBuffer.remove(name: "shared_buffer_a", force: true) }
        let reader = try SharedCircularBuffer(name: "shared_buffer_a")   // size and length discovered
        for value in [50, 10, 20, 30] { try writer.push(value) }
        let first = try reader.popItem()
        let rest = try reader.popMany(3)
        print(first.map(String.init) ?? "nil", rest)                      // 50 [10, 20, 30]
        guard first == 50, rest == [10, 20, 30] else { throw CBuffError(.corrupted, "unexpected items") }
    }
}
