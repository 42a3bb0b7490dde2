/// How the records of a ring of messages are laid out: the one place that maps a ring file's
/// format version to its records, passed down as a value (``MessageGeometry/records``, then the
/// data area's view of it) to everything that writes or reads a record.
///
/// | version | header | what vouches for a record before it is delivered |
/// |---|---|---|
/// | 3 | 24 bytes: length and kind, sequence, time | the record after it (its sequence), or the writer's words for the last one |
/// | 4 | 32 bytes: the same, then a CRC-32 of bytes 0–23 and of the message, and a zero word | its own check word |
///
/// New rings of messages are version 4; a version-3 ring keeps its layout for as long as it
/// lives (a writer taking one over writes version-3 records: one file never mixes layouts).
package enum MessageRecordFormat: Sendable, Equatable {
    /// Version 3: a 24-byte header, no check word.
    case unchecked
    /// Version 4: a 32-byte header whose word 3 holds the CRC-32 (zlib's `crc32`) of the
    /// header's bytes 0–23 followed by the message's bytes, in its low 32 bits (the high ones zero).
    case checked

    /// The layout new rings of messages get.
    package static let newest = MessageRecordFormat.checked

    /// The layout of a ring of messages of format `version`; nil for a version with none.
    package init?(version: UInt32) {
        switch version {
        case 3: self = .unchecked
        case 4: self = .checked
        default: return nil
        }
    }

    /// The format version a ring of messages with these records has.
    package var version: UInt32 {
        switch self {
        case .unchecked: 3
        case .checked: 4
        }
    }

    /// Bytes before a message's own bytes.
    package var headerSize: Int {
        switch self {
        case .unchecked: 24
        case .checked: 32
        }
    }

    /// Whether each record carries a check word that every reader verifies.
    package var isChecked: Bool { self == .checked }
}
