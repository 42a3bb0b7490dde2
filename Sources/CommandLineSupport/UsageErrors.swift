public import ArgumentParser

// How cbuff's command-line tools (`cbuff`, and `cbuff-relay` in Relay/) read their arguments and
// say what is wrong with them: one sentence prefixed with the tool's name, exit 64, never the
// parser's "Error: … Help: … Usage:" block. One place, so that the two tools cannot drift apart.

/// The argument rules both tools share.
public enum CommandLineUsage {
    /// `arguments` with each negative number that follows a long option joined to it
    /// (`--capacity -4096` becomes `--capacity=-4096`), so that the option's own check reads it
    /// as a number and refuses it in words: the parser takes a word starting with `-` for an
    /// option, and would say "Missing value". No option of these tools is a dash and a digit,
    /// so nothing else is changed; after `--`, nothing is.
    public static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(arguments.count)
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                result.append(contentsOf: arguments[index...])
                break
            }
            let next = arguments.index(after: index)
            if argument.hasPrefix("--"), argument.count > 2, !argument.contains("="), next < arguments.endIndex,
               isNegativeNumber(arguments[next]) {
                result.append(argument + "=" + arguments[next])
                index = arguments.index(after: next)
            } else {
                result.append(argument)
                index = next
            }
        }
        return result
    }

    /// Whether `word` reads as a negative number: a minus and a digit or a point (`-1`, `-0.5`,
    /// `-1e3`), or a minus and `inf`, `infinity` or `nan` in any case.
    static func isNegativeNumber(_ word: String) -> Bool {
        guard word.hasPrefix("-") else { return false }
        let rest = word.dropFirst()
        guard let first = rest.first else { return false }
        return first.isASCII && (first.isNumber || first == ".") || ["inf", "infinity", "nan"].contains(rest.lowercased())
    }

    /// The first of this process's arguments (1 for the first after the tool's name) whose
    /// bytes are not UTF-8, with the text it would be repaired to: a buffer name, a path or a
    /// value repaired silently would name something else.
    static func firstArgumentNotText() -> (position: Int, repaired: String)? {
        for index in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
            return (index, String(cString: raw))
        }
        return nil
    }

    /// The parser's message for a usage error as one sentence: its lines (an error and its
    /// help) joined by spaces.
    public static func sentence(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline)
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}

extension ParsableCommand {
    /// Parses `arguments` as this root command and runs what they name, then exits: an
    /// argument of the process that is not UTF-8, or a usage
    /// error (the parser's, a `validate()`'s, or a command's exit 64 with a message) as one
    /// sentence through `complain` with a pointer to `TOOL --help`, exit 64; help and version
    /// on stdout as usual; anything else as the parser exits for it. Returns once the command
    /// ran without error.
    public static func runReportingUsageErrors(_ arguments: [String], tool: String, complain: (String) -> Void) {
        if let (position, repaired) = CommandLineUsage.firstArgumentNotText() {
            complain("argument \(position) (\(repaired.debugDescription), each byte shown as U+FFFD) is not UTF-8 text; \(tool) takes names, paths and values as text (see '\(tool) --help')")
            exit(withError: ExitCode.validationFailure)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            let message = message(for: error)
            if exitCode(for: error).rawValue == ExitCode.validationFailure.rawValue, !message.isEmpty {
                complain(CommandLineUsage.sentence(message) + " (see '\(tool) --help')")
                exit(withError: ExitCode.validationFailure)
            }
            exit(withError: error)
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return start < end ? self[start..<end] : ""
    }
}
