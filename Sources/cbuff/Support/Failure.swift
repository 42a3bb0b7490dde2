import ArgumentParser
import Foundation
import SharedRing

/// sysexits(3) statuses the tool uses (documented in `cbuff --help`).
enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 64        // EX_USAGE
    static let dataError: Int32 = 65    // EX_DATAERR
    static let noInput: Int32 = 66      // EX_NOINPUT
    static let cannotCreate: Int32 = 73 // EX_CANTCREAT
    static let ioError: Int32 = 74      // EX_IOERR
    static let busy: Int32 = 75         // EX_TEMPFAIL
    static let noPermission: Int32 = 77 // EX_NOPERM
}

extension CBuffError.Code {
    var exitStatus: Int32 {
        switch self {
        case .notFound: ExitStatus.noInput
        case .bufferAlreadyCreated: ExitStatus.cannotCreate
        case .writerBusy, .readerBusy, .timedOut: ExitStatus.busy
        case .corrupted, .valueDoesNotFit, .typeMismatch: ExitStatus.dataError
        case .invalidArgument: ExitStatus.usage
        case .permissionDenied: ExitStatus.noPermission
        default: ExitStatus.failure
        }
    }
}

/// Writes one sentence to stderr, prefixed with the tool's name. Control bytes (escape
/// sequences, newlines, a bell) from whatever the sentence echoes (a path, a line of input, a
/// registry value) are written as `\u{…}`: nothing echoed can drive the terminal or split the line.
func complain(_ sentence: String) {
    // Not FileHandle: its write traps when standard error is closed or gone (EBADF, EPIPE).
    Platform.writeStandardError(Array("cbuff: \(Values.escapingControlCharacters(sentence))\n".utf8))
}

/// Runs a command's body: a ``CBuffError`` becomes one sentence on stderr and its sysexits status.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CBuffError {
        complain(error.description)
        throw ExitCode(error.code.exitStatus)
    }
}

/// Fails with one sentence and a status.
func failure(_ status: Int32, _ sentence: String) -> ExitCode {
    complain(sentence)
    return ExitCode(status)
}
