import Foundation
import PackagePlugin

/// Embeds the package's top-level `migrations/*.sql` files into the target that uses this plugin.
///
/// The `.sql` files stay the single source of truth for the registry schema; the generated Swift
/// file carries their text as string literals, so a copied or installed binary never needs the
/// repository (SwiftPM resources would be looked up at the build directory's absolute path).
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = context.package.directoryURL.appending(path: "migrations")
        let sqlFiles = try FileManager.default
            .contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(sqlFiles.count) registry migration(s) from migrations/",
                executable: try context.tool(named: "embed-migrations").url,
                arguments: [output.path] + sqlFiles.map(\.path),
                inputFiles: sqlFiles,
                outputFiles: [output]
            )
        ]
    }
}
