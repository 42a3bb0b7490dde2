import ArgumentParser
import Foundation
import SharedRing

/// How `pop` and `tail` print items and messages. The default is `jsonl` for a buffer whose
/// items have fields, `text` for a buffer of messages, `int` otherwise.
enum ItemFormat: String, ExpressibleByArgument, CaseIterable {
    case int, hex, jsonl, text, base64

    static let help: ArgumentHelp = """
        Items: int (decimal), hex (0x-hexadecimal), jsonl ({"sequence":N,"value":V}, or the item's fields for a buffer created with --fields, the default there). \
        Messages: text (each message and a newline, the default), jsonl ({"sequence":N,"time":T,"text":…}, "base64" when not UTF-8), base64, hex.
        """
}

/// Turns items into lines of text, in the chosen format.
struct ItemPrinter {
    let format: ItemFormat
    let layout: ItemLayout?

    init(_ format: ItemFormat?, layout: ItemLayout?) throws {
        self.format = format ?? (layout == nil ? .int : .jsonl)
        self.layout = layout
        if self.format == .text || self.format == .base64 {
            throw failure(ExitStatus.usage, "--format \(self.format.rawValue) is for buffers of messages; use int, hex or jsonl for items.")
        }
    }

    func line(_ bytes: [UInt8], sequence: UInt64) -> String {
        switch format {
        case .int, .text, .base64: return Values.decimal(bytes)
        case .hex: return Values.hex(bytes)
        case .jsonl:
            if let layout { return bytes.withUnsafeBytes { layout.json(of: $0, sequence: sequence) } }
            let value = bytes.count > 8 && bytes[8...].contains { $0 != 0 } ? "\"\(Values.hex(bytes))\"" : Values.decimal(bytes)
            return "{\"sequence\":\(sequence),\"value\":\(value)}"
        }
    }
}

/// Prints messages, in the chosen format.
struct MessagePrinter {
    let format: ItemFormat

    init(_ format: ItemFormat?) throws {
        self.format = format ?? .text
        if self.format == .int {
            throw failure(ExitStatus.usage, "--format int is for buffers of items; use text, jsonl, base64 or hex for messages.")
        }
    }

    func append(_ message: Message, to output: inout Output) {
        switch format {
        case .text, .int: output.line(bytes: message.bytes)
        case .jsonl: output.line(message.json)
        case .base64: output.line(Data(message.bytes).base64EncodedString())
        case .hex: output.line(message.bytes.map { String(format: "%02x", $0) }.joined())
        }
    }
}

/// What `tail` follows: a reader of items or of messages, and how it prints them.
protocol FollowedReader: ~Copyable {
    /// Appends the next item or message as a line; false if there is none yet.
    mutating func printNext(to output: inout Output) throws -> Bool
    var missedCount: UInt64 { get }
    /// Of ``missedCount``, those a machine crash lost (messages only).
    var lostInCrashCount: UInt64 { get }
    /// Whether what it skips may also be damage it found (items whose slots carry check words:
    /// a slot that does not hold what its word vouches for is counted with the overwritten).
    var skipsDamage: Bool { get }
    mutating func wait(timeout: Duration) -> Bool
    func canReceiveMore() throws(CBuffError) -> Bool
    /// For a named reader, commits everything returned so far (nothing for an anonymous one).
    func commit()
}

/// A reader of items with its printer.
struct FollowedItems: FollowedReader, ~Copyable {
    var reader: BufferReader
    let printer: ItemPrinter

    mutating func printNext(to output: inout Output) throws -> Bool {
        guard let bytes = try reader.popBytes() else { return false }
        output.line(printer.line(bytes, sequence: reader.nextSequence - 1))
        return true
    }

    var missedCount: UInt64 { reader.missedCount }
    var lostInCrashCount: UInt64 { 0 }
    var skipsDamage: Bool { reader.slotsCarryCheckWords }
    mutating func wait(timeout: Duration) -> Bool { reader.wait(timeout: timeout) }
    func canReceiveMore() throws(CBuffError) -> Bool { try reader.canReceiveMore() }
    func commit() { reader.commit() }
}

/// A reader of messages with its printer.
struct FollowedMessages: FollowedReader, ~Copyable {
    var reader: MessageReader
    let printer: MessagePrinter

    mutating func printNext(to output: inout Output) throws -> Bool {
        guard let message = try reader.pop() else { return false }
        printer.append(message, to: &output)
        return true
    }

    var missedCount: UInt64 { reader.missedCount }
    var lostInCrashCount: UInt64 { reader.lostInCrashCount }
    var skipsDamage: Bool { false }
    mutating func wait(timeout: Duration) -> Bool { reader.wait(timeout: timeout) }
    func canReceiveMore() throws(CBuffError) -> Bool { try reader.canReceiveMore() }
    func commit() { reader.commit() }
}
