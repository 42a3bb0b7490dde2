internal import SharedRingCommon
internal import SharedRingRegistry

// A registry row whose name is not a valid buffer name (edited by hand, or written by a
// damaged program) can be removed by that exact name, and only the row goes.
extension DataDirectory {
    /// Deletes the registry row named exactly `name`, a name ``BufferName`` refuses (`invalid`
    /// says why), and touches no file: a file name derived from an invalid name could be
    /// anything (`../x.ring`, `a/b.ring`, a name with a newline), and the row's own `file`
    /// column is as untrusted as its name. The ring file the row pointed at, if any, is left
    /// where it is; `list` then names it as a ring file no row names, for people to decide.
    /// No row of that exact name: the name's own refusal (exit 64), as before.
    func removeRowOnly(named name: String, invalid: CBuffFailure) throws(CBuffFailure) {
        guard let registry = try existingRegistry() else { throw invalid }
        try registry.write("remove the registry row named \"\(name.escapingControlCharacters)\"") { (registered: RegistryTransaction) throws(CBuffFailure) in
            guard try registered.hasRow(named: name) else { throw invalid }
            try registered.delete(named: name)
        }
    }
}
