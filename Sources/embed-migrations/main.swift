// Build-time tool of the EmbedMigrations plugin: writes a Swift file holding every migration's
// identifier (its file name without `.sql`) and SQL text, in file-name order.
//
// Usage: embed-migrations OUTPUT.swift FILE.sql...
import Foundation

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("embed-migrations: \(message)\n".utf8))
    exit(status)
}

/// The `#`s of a raw string literal in which `text` can neither end the literal nor interpolate.
func rawDelimiter(for text: String) -> String {
    var hashes = "#"
    while text.contains("\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
    return hashes
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let outputPath = arguments.first else { fail("usage: embed-migrations OUTPUT.swift FILE.sql...", status: 64) }
let inputs = arguments.dropFirst().map { URL(fileURLWithPath: $0) }.sorted { $0.lastPathComponent < $1.lastPathComponent }

var source = """
    // Generated at build time from migrations/*.sql by the EmbedMigrations plugin. Do not edit:
    // change the registry schema by adding a numbered .sql file to migrations/.

    extension RegistryMigration {
        /// Every migration of `migrations/`, in the order they are applied.
        package static let all: [RegistryMigration] = [

    """
for url in inputs {
    guard let sql = try? String(contentsOf: url, encoding: .utf8) else { fail("cannot read \(url.path) as UTF-8", status: 1) }
    let identifier = url.deletingPathExtension().lastPathComponent
    let hashes = rawDelimiter(for: sql + identifier)
    source += "        RegistryMigration(\n"
    source += "            identifier: \(hashes)\"\(identifier)\"\(hashes),\n"
    source += "            sql: \(hashes)\"\"\"\n"
    source += sql + "\n"   // a multi-line literal drops the newline before its closing delimiter
    source += "\"\"\"\(hashes)\n"
    source += "        ),\n"
}
source += "    ]\n}\n"

do {
    try source.write(toFile: outputPath, atomically: true, encoding: .utf8)
} catch {
    fail("cannot write \(outputPath): \(error)", status: 1)
}
