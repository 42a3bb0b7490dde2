import Testing
import TestSupport
@testable import SharedRing

/// The seed library's own test suite (shared_cbuff tests/test_buffer.py), ported. Where the
/// seed's behaviour was a bug (losing items after a wrap), the test asserts what cbuff does instead.
@Suite struct SeedCompatibilityTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    /// The seed's fixtures: a writer and a reader of one buffer.
    func pair(itemSize: Int? = nil, length: Int? = nil) throws -> (SharedCircularBuffer, SharedCircularBuffer) {
        let writer = try SharedCircularBuffer(name: "test_buffer_1", create: true, itemSize: itemSize, length: length, directory: directory)
        let reader = try SharedCircularBuffer(name: "test_buffer_1", directory: directory)
        return (writer, reader)
    }

    @Test func pushRaisesWhenWriteNotPermitted() throws {
        let (_, reader) = try pair()
        expectError(.writeOperationsForbidden) { try reader.push(10) }
    }

    @Test func popItemRaisesWhenReadNotPermitted() throws {
        let (writer, _) = try pair()
        expectError(.readOperationsForbidden) { try writer.popItem() }
    }

    @Test func popManyRaisesWhenReadNotPermitted() throws {
        let (writer, _) = try pair()
        expectError(.readOperationsForbidden) { try writer.popMany(2) }
    }

    @Test func pushAddsToBuffer() throws {
        let (writer, reader) = try pair()
        try writer.push(10)
        #expect(try reader.popItem() == 10)
    }

    @Test func moreThanLengthItemsCanBePushed() throws {
        let (writer, reader) = try pair()
        for _ in 0..<3 { try writer.push(10) }
        #expect(try reader.popMany(3) == [10, 10])
    }

    @Test func popManyReturnsAtMostNIntegers() throws {
        let (writer, reader) = try pair(length: 8)
        try writer.push(10)
        #expect(try reader.popMany(2) == [10])
        for value in 1...5 { try writer.push(value) }
        #expect(try reader.popMany(3) == [1, 2, 3])
        #expect(try reader.popMany(0) == [])
        #expect(try reader.popMany(10) == [4, 5])
    }

    /// The seed expected `popitem() == 50` here because it had lost the two older items; cbuff
    /// keeps the `length` most recent items, so the reader gets the surviving 10, then 50, and
    /// counts the one item that was overwritten.
    @Test func pushingMoreThanLengthOverwritesTheOldest() throws {
        let (writer, reader) = try pair()
        try writer.push(10)
        try writer.push(11)
        try writer.push(50)
        #expect(try reader.popItem() == 11)
        #expect(try reader.popMany(3) == [50])
        #expect(reader.missedCount == 1)
    }

    @Test func itemSizeAboveOneCanBePushedAndPopped() throws {
        let (writer, reader) = try pair(itemSize: 3)
        try writer.push(10)
        #expect(try reader.popItem() == 10)
        try writer.push(500)
        #expect(try reader.popItem() == 500)
        try writer.push(0xFF_FFFF)
        #expect(try reader.popItem() == 0xFF_FFFF)
    }

    @Test func readWorksForWritePositionsLongerThanOneByte() throws {
        let (writer, reader) = try pair(itemSize: 4, length: 128)
        for i in 0..<127 { try writer.push(i) }
        #expect(try reader.popMany(127) == (0..<127).map(UInt64.init))
    }

    @Test func secondCreateRaisesBufferAlreadyCreated() throws {
        let (_, _) = try pair()
        expectError(.bufferAlreadyCreated) {
            _ = try SharedCircularBuffer(name: "test_buffer_1", create: true, directory: directory)
        }
    }

    @Test func descriptionMatchesTheSeed() throws {
        let (writer, reader) = try pair()
        #expect(writer.description == "SharedCircularBuffer (test_buffer_1)")
        #expect(reader.description == "SharedCircularBuffer (test_buffer_1) (0.00% full)")
        try writer.push(1)
        #expect(reader.description == "SharedCircularBuffer (test_buffer_1) (50.00% full)")
    }

    @Test func usageIsZeroWhenEmptyAndOneWithAnItem() throws {
        let (writer, reader) = try pair()
        #expect(reader.usage == 0)
        try writer.push(10)
        #expect(reader.usage == 1)
    }

    @Test func lengthBelowTwoRaises() throws {
        expectError(.invalidArgument) {
            _ = try SharedCircularBuffer(name: "test_buffer_1", create: true, length: 1, directory: directory)
        }
        expectError(.invalidArgument) {
            _ = try SharedCircularBuffer(name: "test_buffer_1", length: 1, directory: directory)
        }
        #expect(try directory.buffers().isEmpty)
    }

    @Test func usageIsRightWhenTheWritePositionWrappedBehindTheReader() throws {
        let (writer, reader) = try pair(itemSize: 4, length: 128)
        for _ in 0..<127 { try writer.push(10) }
        for _ in 0..<10 { _ = try reader.popItem() }
        for _ in 0..<5 { try writer.push(10) }
        #expect(reader.usage == 122)
    }

    /// The seed README's session, and the bug the seed had with it: exactly `length` pushes.
    @Test func readmeSessionKeepsExactlyLengthItems() throws {
        let writer = try SharedCircularBuffer(name: "shared_buffer_a", create: true, length: 5, directory: directory)
        let reader = try SharedCircularBuffer(name: "shared_buffer_a", directory: directory)
        for value in [50, 10, 20, 30] { try writer.push(value) }
        #expect(try reader.popItem() == 50)
        #expect(try reader.popMany(3) == [10, 20, 30])
        for value in 1...5 { try writer.push(value) }
        #expect(try reader.popMany(10) == [1, 2, 3, 4, 5])
        #expect(reader.missedCount == 0)
    }

    @Test func closedInstancesRefuseEverything() throws {
        let (writer, reader) = try pair()
        writer.close()
        reader.close()
        expectError(.closed) { try writer.push(1) }
        expectError(.closed) { try reader.popItem() }
        // The buffer itself stays, with no live writer.
        #expect(try eventually { try directory.hasLiveWriter("test_buffer_1") == false })
        #expect(try directory.record(of: "test_buffer_1").length == 2)
    }
}
