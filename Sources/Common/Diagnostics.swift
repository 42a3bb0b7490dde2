internal import Logging

/// What the library tells the application's logging, at debug level (so silent under swift-log's
/// default, which prints from info up, and under any handler that does not ask for debug):
/// take-overs, retries of busy locks, registry migrations, lapped readers. One logger, label
/// `cbuff`, with the subsystem as metadata. Only this file imports swift-log: the layers call
/// ``note(_:_:)``, whose message is built only when a handler wants it (a lapped reader's note
/// costs nothing on the hot path, which never gets here).
package enum Diagnostics {
    package enum Subsystem: String {
        case writer, locks, registry, readers
    }

    private static let logger = Logger(label: "cbuff")

    package static func note(_ subsystem: Subsystem, _ message: @autoclosure () -> String) {
        logger.debug("\(message())", metadata: ["subsystem": "\(subsystem.rawValue)"])
    }

    /// What an operator must hear about even without asking for diagnostics, at warning level:
    /// a `block` writer that stopped waiting for a dead named reader (its tether timeout). Said
    /// once per event, never on the hot path. (`cbuff` prints warnings to stderr.)
    package static func warn(_ subsystem: Subsystem, _ message: @autoclosure () -> String) {
        logger.warning("\(message())", metadata: ["subsystem": "\(subsystem.rawValue)"])
    }
}
