import ArgumentParser
import SharedRing

/// Shell completion of buffer names (`cbuff --generate-completion-script bash|zsh|fish`): the
/// buffers of the data directory the command line names (`--dir`), else of the default one.
enum BufferNames {
    static let completion = CompletionKind.custom { (words: [String], _: Int, prefix: String) -> [String] in
        let dir = words.firstIndex(of: "--dir").flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
            ?? words.first(where: { $0.hasPrefix("--dir=") }).map { String($0.dropFirst(6)) }
        let names = (try? DataDirectory.resolve(dir).buffers().map(\.name)) ?? []
        return names.filter { $0.hasPrefix(prefix) }
    }
}
