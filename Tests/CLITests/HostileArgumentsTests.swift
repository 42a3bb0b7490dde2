import Foundation
import Testing
import TestSupport

/// Arguments are input (issue 24, class 7): every option of every command, found from the tool's
/// own description of itself (`--experimental-dump-help`, so that an option added later is
/// covered without editing this test), is given each hostile value below. Every run must end
/// with a documented status, never a signal or a hang; a failure is one `cbuff: ` sentence that
/// names no parser internals ("Missing value" for a value that was given) and carries no raw
/// control character.
@Suite struct HostileArgumentsTests {
    /// The values every option gets (all of `allHostileValues` with CBUFF_LONG_TESTS=1).
    static let hostileValues = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? allHostileValues : [
        "-4096", "18446744073709551616", "nan", "9999-12-31T23:59:59Z", "", "\u{1B}[31mred\u{7}", "a\nb",
        String(repeating: "9", count: 5000),
    ]
    static let allHostileValues = [
        "-4096", "-1", "-0", "0", "18446744073709551616", "99999999999999999999999", "1e308", "-1e308", "nan", "inf",
        "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0x", "0xFFFFFFFFFFFFFFFFFF", "",
        "\u{1B}[31mred\u{7}", "a\nb", "../../etc/passwd", String(repeating: "9", count: 5000), "%n%s",
    ]
    /// The statuses `cbuff --help` documents.
    static let documented: Set<Int32> = [0, 1, 64, 65, 66, 73, 74, 75, 77]
    /// Commands that run until stopped or for a long time, left out: the demo and its helpers.
    static let skipped: Set<String> = ["demo", "demo-writer", "demo-reader"]

    struct Option: Sendable, CustomStringConvertible {
        let command: [String]
        let positionals: [String]
        let name: String
        var description: String { (command + [name]).joined(separator: " ") }
    }

    /// Every option taking a value, with the command path and the positional arguments that make
    /// the command otherwise valid (an existing buffer of items, "x", and a reader name).
    static func options(cbuff: String) throws -> [Option] {
        let dump = try run(cbuff, ["--experimental-dump-help"], timeout: 60)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var found: [Option] = []
        let globals = Set(((root["command"] as? [String: Any])?["arguments"] as? [[String: Any]] ?? []).compactMap {
            ($0["names"] as? [[String: Any]])?.first?["name"] as? String
        })
        func walk(_ command: [String: Any], path: [String]) {
            let arguments = command["arguments"] as? [[String: Any]] ?? []
            let positionals = arguments.filter { $0["kind"] as? String == "positional" }.compactMap { argument -> String? in
                guard argument["isOptional"] as? Bool != true || argument["valueName"] as? String == "name" else { return nil }
                // `rm` is pointed at a buffer that does not exist, so that "x" stays intact.
                return argument["valueName"] as? String == "name" ? (path == ["rm"] ? "gone" : "x") : "r"
            }
            for argument in arguments where argument["kind"] as? String == "option" {
                guard let names = argument["names"] as? [[String: Any]], let first = names.first,
                      let name = first["name"] as? String, let kind = first["kind"] as? String else { continue }
                // The global options (every command repeats them) are tried once, under `list`.
                if globals.contains(name) && path != ["list"] { continue }
                found.append(Option(command: path, positionals: positionals, name: (kind == "short" ? "-" : "--") + name))
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = sub["commandName"] as? String, !skipped.contains(name) else { continue }
                walk(sub, path: path + [name])
            }
        }
        walk(try #require(root["command"] as? [String: Any]), path: [])
        return found
    }

    @Test func everyOptionTakesEveryHostileValueWithOneSentence() throws {
        let temporary = try TemporaryDirectory()
        let cbuff = ChildProcess.executable("cbuff").path
        #expect(try run(cbuff, ["--dir", temporary.path, "create", "x", "--item-size", "8", "--length", "16"]).status == 0)
        #expect(try run(cbuff, ["--dir", temporary.path, "push", "x", "1", "2"]).status == 0)
        let options = try Self.options(cbuff: cbuff)
        #expect(options.count > 15, "the tool's own description lists \(options.count) options")
        var runs = 0
        for option in options where option.name != "--dir" {
            for value in Self.hostileValues {
                // `top` redraws until interrupted: one frame. `tail` without --follow ends.
                let extra = option.command == ["top"] ? ["--once"] : []
                let arguments = ["--dir", temporary.path] + option.command + option.positionals + extra + [option.name, value]
                let outcome = try run(cbuff, arguments, timeout: 20)
                runs += 1
                let shown = "\(option) \(value.debugDescription.prefix(40)): \(outcome)".prefix(600)
                #expect(!outcome.timedOut && Self.documented.contains(outcome.status), "\(shown)")
                if outcome.status != 0 {
                    #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(shown)")
                }
                #expect(!outcome.stderr.contains("Missing value"), "\(shown)")
                #expect(!outcome.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(shown)")
            }
        }
        // The buffer the runs were pointed at is intact.
        let items = try run(cbuff, ["--dir", temporary.path, "pop", "x", "-n", "10"])
        #expect(items.status == 0 && Array(items.lines.prefix(2)) == ["1", "2"], "\(items)")
        print("hostile arguments: \(options.count) options × \(Self.hostileValues.count) values, \(runs) runs")
    }

    /// Bytes that are not UTF-8, in an argument or in a variable that names the data directory,
    /// are refused in one sentence (64), never repaired into another name: a repaired path
    /// would create, read or remove a directory or buffer nobody named.
    @Test func bytesThatAreNotUTF8AreRefusedNeverRepaired() throws {
        let temporary = try TemporaryDirectory()
        let cbuff = ChildProcess.executable("cbuff").path
        let script = """
            bad="$1/$(printf 'data\\377')"
            CBUFF_DIR="$bad" "$2" create q --item-size 8 --length 4; echo "status $?"
            CBUFF_DIR="$bad" "$2" list; echo "status $?"
            "$2" --dir "$bad" create q --item-size 8 --length 4; echo "status $?"
            CBUFF_DIR= XDG_DATA_HOME= HOME="$bad" "$2" create q --item-size 8 --length 4; echo "status $?"
            "$2" --dir "$1" create "$(printf 'q\\377')" --item-size 8 --length 4; echo "status $?"
            ls -A "$1"
            """
        let outcome = try run("/bin/sh", ["-c", script, "sh", temporary.path, cbuff])
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines == Array(repeating: "status 64", count: 5), "\(outcome)")
        let complaints = outcome.stderr.split(separator: "\n")
        #expect(complaints.count == 5 && complaints.allSatisfy { $0.hasPrefix("cbuff: ") && $0.contains("not UTF-8") }, "\(outcome)")
    }
}
