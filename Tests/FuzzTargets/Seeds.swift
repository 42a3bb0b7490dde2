// The corpus's seeds: for each kind, the untouched part of every template (a real file, as the
// library writes it after pushes, wraps and named readers), and hand-made edge cases, each a
// defect class the format must refuse or survive. `CBUFF_FUZZ_WRITE_SEEDS=1 swift test
// --filter CorpusReplayTests` writes them into Fuzz/Corpus (see Fuzz/README.md); the fuzzer
// grows the corpus from them.
extension FuzzWorkspace {
    /// The seeds of `kind`: a file name for each, and its bytes.
    public func seeds(_ kind: FuzzKind) -> [(name: String, bytes: [UInt8])] {
        switch kind {
        case .header: headerSeeds()
        case .description: descriptionSeeds()
        case .writer: writerSeeds()
        case .readers: readerSeeds()
        case .records: recordSeeds()
        case .registry: rowSeeds()
        case .layout: layoutSeeds()
        }
    }

    /// Each template's own bytes over `range`, with its selector.
    private func untouched(_ range: Range<Int>, messagesOnly: Bool = false) -> [(name: String, bytes: [UInt8])] {
        let chosen = messagesOnly ? templates.filter(\.holdsMessages) : templates
        return chosen.enumerated().map { index, template in
            ("template-\(template.name)", [UInt8(index)] + Array(template.bytes[range.clamped(to: 0..<template.bytes.count)]))
        }
    }

    /// A template's bytes over `range` changed by `edit` (offsets in file terms), with its selector.
    private func edited(_ name: String, template index: Int, _ range: Range<Int>, flags: UInt8 = 0,
                        _ edit: (inout [UInt8]) -> Void) -> (name: String, bytes: [UInt8]) {
        var bytes = templates[index].bytes
        edit(&bytes)
        return (name, [UInt8(index) | flags] + Array(bytes[range]))
    }

    private var itemsOverwrite: Int { 0 }
    private var itemsBlock: Int { 1 }
    private var typedFields: Int { 2 }
    private var messagesOverwrite: Int { templates.firstIndex { $0.name == "messages-overwrite" } ?? 0 }

    private func headerSeeds() -> [(name: String, bytes: [UInt8])] {
        let lines = 0..<1024
        var seeds = untouched(lines)
        func header(_ name: String, _ index: Int = 0, flags: UInt8 = 0, _ edit: (inout [UInt8]) -> Void) {
            seeds.append(edited(name, template: index, lines, flags: flags, edit))
        }
        header("not-a-ring-file") { $0.replaceSubrange(0..<8, with: Array("SQLite f".utf8)) }
        header("version-1") { $0.setLE(UInt32(1), at: 8) }
        header("version-4") { $0.setLE(UInt32(4), at: 8) }
        header("header-size-0") { $0.setLE(UInt32(0), at: 12) }
        header("item-size-0") { $0.setLE(UInt64(0), at: 16) }
        header("item-size-huge") { $0.setLE(UInt64(1) << 40, at: 16) }
        header("length-1") { $0.setLE(UInt64(1), at: 24) }
        header("length-max") { $0.setLE(UInt64.max, at: 24) }
        header("length-32-consistent") { $0.setLE(UInt64(32), at: 24); $0.setLE(UInt64(4096 + 32 * 8), at: 48) }
        header("stride-wrong") { $0.setLE(UInt32(16), at: 32) }
        header("policy-2") { $0.setLE(UInt32(2), at: 36) }
        header("reader-capacity-0") { $0.setLE(UInt32(0), at: 40) }
        header("byte-order-swapped") { $0.setLE(UInt32(0x0403_0201), at: 44) }
        header("file-size-header-only") { $0.setLE(UInt64(4096), at: 48) }
        header("file-size-huge") { $0.setLE(UInt64(1) << 40, at: 48) }
        header("file-size-zero") { $0.setLE(UInt64(0), at: 48) }
        header("checksum-wrong", flags: 0x10) { $0.setLE(UInt64(0xDEAD_BEEF), at: 56) }
        header("description-checksum-wrong", typedFields, flags: 0x20) { $0.setLE(UInt64(0xDEAD_BEEF), at: 1016) }
        header("published-ahead-of-claimed") { $0.setLE(UInt64(50), at: 128) }
        header("claimed-beyond-length") { $0.setLE($0.le64(at: 128) + 17, at: 176) }
        header("counters-at-max") { $0.setLE(UInt64.max, at: 128); $0.setLE(UInt64.max, at: 176) }
        header("counters-near-wrap") { $0.setLE(UInt64.max - 3, at: 128); $0.setLE(UInt64.max - 3, at: 176) }
        header("writer-state-7") { $0.setLE(UInt32(7), at: 148) }
        header("writer-attached-self") { $0.setLE(UInt32(1), at: 148); $0.setLE(UInt32(1), at: 144) }
        header("waiters-max") { $0.setLE(UInt32.max, at: 196) }
        header("block-claimed-beyond", itemsBlock) { $0.setLE($0.le64(at: 128) + 17, at: 320) }
        header("message-capacity-not-power", messagesOverwrite) { $0.setLE(UInt64(3000), at: 464) }
        header("message-largest-too-big", messagesOverwrite) { $0.setLE(UInt32(4096), at: 472) }
        header("message-flags-2", messagesOverwrite) { $0.setLE(UInt32(2), at: 476) }
        header("message-kind-2", messagesOverwrite) { $0.setLE(UInt32(2), at: 384) }
        header("message-line0-length", messagesOverwrite) { $0.setLE(UInt64(1024), at: 24) }
        header("message-tail-beyond", messagesOverwrite) { $0.setLE($0.le64(at: 128) + 8, at: 328) }
        header("message-version-2", messagesOverwrite) { $0.setLE(UInt32(2), at: 8) }
        return seeds
    }

    private func descriptionSeeds() -> [(name: String, bytes: [UInt8])] {
        let lines = 384..<1016
        var seeds = untouched(lines)
        func description(_ name: String, _ index: Int, flags: UInt8 = 0, _ edit: (inout [UInt8]) -> Void) {
            seeds.append(edited(name, template: index, lines, flags: flags, edit))
        }
        let typed = typedFields
        description("kind-2", typed) { $0.setLE(UInt32(2), at: 384) }
        description("kind-messages-on-items", typed) { $0.setLE(UInt32(1), at: 384) }
        description("alignment-3", typed) { $0.setLE(UInt32(3), at: 388) }
        description("alignment-8192", typed) { $0.setLE(UInt32(8192), at: 388) }
        description("alignment-16-against-fields", typed) { $0.setLE(UInt32(16), at: 388) }
        description("field-count-15", typed) { $0.setLE(UInt32(15), at: 392) }
        description("field-count-0", typed) { $0.setLE(UInt32(0), at: 392) }
        description("field-count-4-zero-record", typed) { $0.setLE(UInt32(4), at: 392) }
        description("type-name-61", typed) { $0.setLE(UInt32(61), at: 396) }
        description("type-name-control", typed) { $0.setLE(UInt32(3), at: 396); $0.replaceSubrange(400..<403, with: [0x41, 0x1B, 0x42]) }
        description("type-name-invalid-utf8", typed) { $0.setLE(UInt32(2), at: 396); $0.replaceSubrange(400..<402, with: [0xC3, 0x28]) }
        description("type-name-trailing-bytes", typed) { $0[459] = 1 }
        description("field-name-length-0", typed) { $0[512] = 0 }
        description("field-name-length-24", typed) { $0[512] = 24 }
        description("field-name-invalid-utf8", typed) { $0[512] = 2; $0.replaceSubrange(513..<515, with: [0xFF, 0xFE]) }
        description("field-name-digit-first", typed) { $0[513] = UInt8(ascii: "9") }
        description("field-name-sequence", typed) { $0[512] = 8; $0.replaceSubrange(513..<521, with: Array("sequence".utf8)) }
        description("field-duplicate-name", typed) { $0.replaceSubrange(544..<576, with: $0[512..<544]) }
        description("field-type-13", typed) { $0[512 + 24] = 13 }
        description("field-type-0", typed) { $0[512 + 24] = 0 }
        description("field-pad-byte", typed) { $0[512 + 25] = 1 }
        description("field-chars-0", typed) { $0.setLE(UInt16(0), at: 544 + 26) }
        description("field-chars-max", typed) { $0.setLE(UInt16.max, at: 544 + 26) }
        description("field-u32-count-2", typed) { $0.setLE(UInt16(2), at: 512 + 26) }
        description("field-offset-gap", typed) { $0.setLE(UInt32(8), at: 544 + 28) }
        description("field-offset-max", typed) { $0.setLE(UInt32.max, at: 576 + 28) }
        description("reserved-nonzero", typed) { $0[1000] = 1 }
        description("message-capacity-4097", messagesOverwrite) { $0.setLE(UInt64(4097), at: 464) }
        description("message-capacity-huge", messagesOverwrite) { $0.setLE(UInt64(1) << 50, at: 464) }
        description("message-largest-2025", messagesOverwrite) { $0.setLE(UInt32(2025), at: 472) }
        description("message-with-fields", messagesOverwrite) { $0.setLE(UInt32(1), at: 392) }
        description("message-reserved-nonzero", messagesOverwrite) { $0[490] = 1 }
        description("checksum-wrong", typed, flags: 0x10) { $0[400] ^= 1 }
        description("plain-items-as-version-3", itemsOverwrite) { _ in }
        return seeds
    }

    private func writerSeeds() -> [(name: String, bytes: [UInt8])] {
        let lines = 128..<384
        var seeds = untouched(lines)
        func words(_ name: String, _ index: Int, _ edit: (inout [UInt8]) -> Void) {
            seeds.append(edited(name, template: index, lines, edit))
        }
        for (label, index) in [("items", itemsOverwrite), ("block", itemsBlock), ("messages", messagesOverwrite)] {
            let claimed = templates[index].layout.policy == .block ? 320 : 176
            words("\(label)-published-zero", index) { $0.setLE(UInt64(0), at: 128) }
            words("\(label)-published-ahead", index) { $0.setLE($0.le64(at: claimed) + 1, at: 128) }
            words("\(label)-claimed-one-beyond", index) { $0.setLE($0.le64(at: 128) + 1, at: claimed) }
            words("\(label)-claimed-full-lap", index) { $0.setLE($0.le64(at: 128) + UInt64(templates[index].layout.length), at: claimed) }
            words("\(label)-claimed-past-lap", index) { $0.setLE($0.le64(at: 128) + UInt64(templates[index].layout.length) + 1, at: claimed) }
            words("\(label)-counters-max", index) { $0.setLE(UInt64.max, at: 128); $0.setLE(UInt64.max, at: claimed) }
            words("\(label)-counters-2-63", index) { $0.setLE(UInt64(1) << 63, at: 128); $0.setLE(UInt64(1) << 63, at: claimed) }
            words("\(label)-state-attached", index) { $0.setLE(UInt32(1), at: 148) }
            words("\(label)-state-9", index) { $0.setLE(UInt32(9), at: 148) }
            words("\(label)-writer-waiting", index) { $0.setLE(UInt32(1), at: 260) }
            words("\(label)-gate-version-ahead", index) { $0.setLE(UInt32(77), at: 168) }
            // Words a process bumps, at their top (they must wrap: SharedWordWrapTests).
            words("\(label)-generation-word-max", index) { $0.setLE(UInt64.max, at: 160) }
            words("\(label)-notify-word-max", index) { $0.setLE(UInt32.max, at: 192); $0.setLE(UInt32(1), at: 196) }
            words("\(label)-space-word-max", index) { $0.setLE(UInt32.max, at: 256); $0.setLE(UInt32(1), at: 260) }
            words("\(label)-readers-version-word-max", index) { $0.setLE(UInt32.max, at: 264) }
        }
        let messages = messagesOverwrite
        words("messages-tail-zero", messages) { $0.setLE(UInt64(0), at: 328) }
        words("messages-tail-odd", messages) { $0.setLE($0.le64(at: 328) + 1, at: 328) }
        words("messages-tail-ahead", messages) { $0.setLE($0.le64(at: 128) + 3, at: 328) }
        words("messages-tail-max", messages) { $0.setLE(UInt64.max, at: 328) }
        words("messages-last-record-garbage", messages) { $0.setLE(UInt64(5), at: 336) }
        words("messages-last-record-max", messages) { $0.setLE(UInt64.max, at: 336) }
        words("messages-count-max", messages) { $0.setLE(UInt64.max, at: 344) }
        words("messages-count-zero", messages) { $0.setLE(UInt64(0), at: 344) }
        words("messages-published-mid-record", messages) { $0.setLE($0.le64(at: 128) - 1, at: 128); $0.setLE($0.le64(at: 128), at: 176) }
        return seeds
    }

    private func readerSeeds() -> [(name: String, bytes: [UInt8])] {
        let table = 1024..<4096
        var seeds = untouched(table)
        func records(_ name: String, _ index: Int, _ edit: (inout [UInt8]) -> Void) {
            seeds.append(edited(name, template: index, table, edit))
        }
        func register(_ bytes: inout [UInt8], record: Int, name: [UInt8], cursor: UInt64, state: UInt32 = 1) {
            let offset = 1024 + record * 128
            bytes.replaceSubrange(offset..<(offset + 128), with: [UInt8](repeating: 0, count: 128))
            bytes.setLE(cursor, at: offset)
            bytes.setLE(state, at: offset + 64)
            bytes.setLE(UInt32(name.count), at: offset + 80)
            bytes.replaceSubrange((offset + 84)..<(offset + 84 + min(name.count, 44)), with: name.prefix(44))
        }
        for (label, index) in [("items", itemsOverwrite), ("block", itemsBlock), ("messages", messagesOverwrite)] {
            let published = templates[index].bytes.le64(at: 128)
            records("\(label)-state-2", index) { register(&$0, record: 3, name: Array("odd".utf8), cursor: 0, state: 2) }
            records("\(label)-cursor-beyond", index) { register(&$0, record: 3, name: Array("ahead".utf8), cursor: published + 1) }
            records("\(label)-cursor-max", index) { register(&$0, record: 3, name: Array("max".utf8), cursor: .max) }
            records("\(label)-cursor-zero", index) { register(&$0, record: 3, name: Array("zero".utf8), cursor: 0) }
            records("\(label)-name-length-0", index) { register(&$0, record: 3, name: [], cursor: 0) }
            records("\(label)-name-length-45", index) { register(&$0, record: 3, name: [UInt8](repeating: 0x61, count: 45), cursor: 0) }
            records("\(label)-name-invalid-utf8", index) { register(&$0, record: 3, name: [0xC3, 0x28, 0x61], cursor: 0) }
            records("\(label)-name-slash", index) { register(&$0, record: 3, name: Array("../etc".utf8), cursor: 0) }
            records("\(label)-name-fz-twice", index) {
                register(&$0, record: 3, name: Array("fz".utf8), cursor: 1)
                register(&$0, record: 9, name: Array("fz".utf8), cursor: 2)
            }
            records("\(label)-table-full", index) { bytes in
                for record in 0..<24 { register(&bytes, record: record, name: Array("r\(record)".utf8), cursor: published / 2) }
            }
            records("\(label)-last-record", index) { register(&$0, record: 23, name: Array("last".utf8), cursor: published) }
        }
        records("messages-committed-sequence-max", messagesOverwrite) { register(&$0, record: 3, name: Array("seq".utf8), cursor: 0); $0.setLE(UInt64.max, at: 1024 + 3 * 128 + 8) }
        records("messages-cursor-mid-record", messagesOverwrite) { register(&$0, record: 3, name: Array("mid".utf8), cursor: $0.le64(at: 328) + 1) }
        return seeds
    }

    private func recordSeeds() -> [(name: String, bytes: [UInt8])] {
        let messageTemplates = templates.filter(\.holdsMessages)
        var seeds = untouched(4096..<8192, messagesOnly: true)
        let selector = messageTemplates.firstIndex { $0.name == "messages-overwrite" } ?? 0
        let template = messageTemplates[selector]
        let tail = Int(template.bytes.le64(at: 328) & 511), published = Int(template.bytes.le64(at: 128) & 511)
        func area(_ name: String, _ edit: (inout [UInt8]) -> Void) {
            var bytes = Array(template.bytes[4096..<8192])
            edit(&bytes)
            seeds.append((name, [UInt8(selector)] + bytes))
        }
        area("zeros") { $0 = [UInt8](repeating: 0, count: 4096) }
        area("ones") { $0 = [UInt8](repeating: 0xFF, count: 4096) }
        area("oldest-too-long") { $0.setLE(UInt64(601) | 1 << 32, at: tail * 8) }
        area("oldest-length-max") { $0.setLE(UInt64(0xFFFF_FFFF) | 1 << 32, at: tail * 8) }
        area("oldest-kind-3") { $0.setLE($0.le64(at: tail * 8) & 0xFFFF_FFFF | 3 << 32, at: tail * 8) }
        area("oldest-padding-short") { $0.setLE(UInt64(3) | 2 << 32, at: tail * 8) }
        area("oldest-crosses-end") { $0.setLE(UInt64(600) | 1 << 32, at: 4096 - 24) }
        area("oldest-sequence-back") { $0.setLE(UInt64(0), at: tail * 8 + 8) }
        area("oldest-time-max") { $0.setLE(UInt64.max, at: tail * 8 + 16) }
        area("last-record-zeroed") { bytes in
            let last = Int(template.bytes.le64(at: 336) & 511)
            for offset in stride(from: last * 8, to: max(last * 8, published * 8), by: 8) { bytes.setLE(UInt64(0), at: offset) }
        }
        // Format version 4 (template "messages-checked"): what only the check word sees, and
        // the check word itself.
        if let checked = messageTemplates.firstIndex(where: { $0.name == "messages-checked" }) {
            let template = messageTemplates[checked]
            let tail = Int(template.bytes.le64(at: 328) & 511), last = Int(template.bytes.le64(at: 336) & 511)
            let oldestLength = Int(template.bytes.le64(at: 4096 + tail * 8) & 0xFFFF_FFFF)
            func checkedArea(_ name: String, _ edit: (inout [UInt8]) -> Void) {
                var bytes = Array(template.bytes[4096..<8192])
                edit(&bytes)
                seeds.append(("checked-\(name)", [UInt8(checked)] + bytes))
            }
            checkedArea("oldest-body-flipped") { $0[tail * 8 + 32 + max(0, oldestLength - 1)] ^= 0x01 }
            checkedArea("oldest-check-zeroed") { $0.setLE(UInt64(0), at: tail * 8 + 24) }
            checkedArea("oldest-check-high-half") { $0.setLE($0.le64(at: tail * 8 + 24) | 1 << 40, at: tail * 8 + 24) }
            checkedArea("oldest-length-shortened") { $0.setLE(UInt64(max(0, oldestLength - 1)) | 1 << 32, at: tail * 8) }
            checkedArea("oldest-time-changed") { $0.setLE($0.le64(at: tail * 8 + 16) &+ 1, at: tail * 8 + 16) }
            checkedArea("stale-body-under-the-last-header") { bytes in
                let length = Int(bytes.le64(at: last * 8) & 0xFFFF_FFFF)
                for index in 0..<length { bytes[last * 8 + 32 + index] = bytes[tail * 8 + 32 + index % max(1, oldestLength)] &+ 1 }
            }
            checkedArea("check-words-zeroed") { bytes in
                // Every record's check word moved into its message's place: a version-3 layout.
                for offset in stride(from: 0, to: 4096, by: 8) where bytes.le64(at: offset) >> 32 == 1 { bytes.setLE(UInt64(0), at: offset + 24) }
            }
        }
        return seeds
    }

    private func rowSeeds() -> [(name: String, bytes: [UInt8])] {
        var seeds: [(name: String, bytes: [UInt8])] = templates.enumerated().map { ("template-\($1.name)", [UInt8($0)]) }
        try? place(templates[0].bytes, row: templates[0].row)
        let columns = ((try? rawRow()) ?? []).map(\.column)
        // A value for `column` and the true value for every column before it.
        func row(_ name: String, _ index: Int = 0, _ column: String, _ value: [UInt8]) {
            guard let position = columns.firstIndex(of: column) else { return }
            seeds.append((name, [UInt8(index)] + [UInt8](repeating: 0, count: position) + value))
        }
        func text(_ text: String) -> [UInt8] { [5, UInt8(text.utf8.count)] + Array(text.utf8) }
        func integer(_ value: Int64) -> [UInt8] { [2] + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func real(_ value: Double) -> [UInt8] { [4] + (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
        let null: [UInt8] = [1]
        let messages = messagesOverwrite
        row("name-null", 0, "name", null)
        row("name-integer", 0, "name", integer(7))
        row("name-blob", 0, "name", [7, 4, 0x66, 0x75, 0x7A, 0x7A])
        row("name-invalid-utf8", 0, "name", [6, 4, 0x66, 0xFF, 0x7A, 0x7A])
        row("name-dot-dot", 0, "name", text(".."))
        row("name-slash", 0, "name", text("a/b"))
        row("name-empty", 0, "name", text(""))
        row("name-other", 0, "name", text("other"))
        row("item-size-0", 0, "item_size", integer(0))
        row("item-size-negative", 0, "item_size", [3, 0xFF])
        row("item-size-text", 0, "item_size", text("8"))
        row("item-size-real", 0, "item_size", real(8.5))
        row("item-size-huge", 0, "item_size", integer(.max))
        row("item-size-null", 0, "item_size", null)
        row("item-size-16", 0, "item_size", integer(16))
        row("length-1", 0, "length", integer(1))
        row("length-huge", 0, "length", integer(1 << 40))
        row("length-32", 0, "length", integer(32))
        row("policy-unknown", 0, "policy", text("maybe"))
        row("policy-block", 0, "policy", text("block"))
        row("policy-integer", 0, "policy", integer(1))
        row("file-other", 0, "file", text("sentinel.ring"))
        row("file-traversal", 0, "file", text("../fuzz.ring"))
        row("file-null", 0, "file", null)
        row("format-version-0", 0, "format_version", integer(0))
        row("format-version-huge", 0, "format_version", integer(.max))
        row("alignment-3", typedFields, "item_alignment", integer(3))
        row("alignment-8192", typedFields, "item_alignment", integer(8192))
        row("alignment-on-plain", 0, "item_alignment", integer(8))
        row("type-name-control", typedFields, "type_name", text("A\u{1B}[2J"))
        row("type-name-empty", typedFields, "type_name", text(""))
        row("type-name-blob", typedFields, "type_name", [7, 1, 0x41])
        row("fields-not-json", typedFields, "fields", text("[{"))
        row("fields-deep", typedFields, "fields", text(String(repeating: "[", count: 100)))
        row("fields-size-mismatch", typedFields, "fields", text(#"[{"name":"a","type":"u8","offset":0}]"#))
        row("fields-offset-huge", typedFields, "fields", text(#"[{"name":"a","type":"u32","offset":99999999999999999999}]"#))
        row("fields-extra-member", typedFields, "fields", text(#"[{"name":"a","type":"u32","offset":0,"x":1}]"#))
        row("fields-on-plain", 0, "fields", text(#"[{"name":"a","type":"u64","offset":0}]"#))
        row("kind-unknown", 0, "kind", text("bytes"))
        row("kind-messages-on-items", 0, "kind", text("messages"))
        row("kind-items-on-messages", messages, "kind", text("items"))
        row("capacity-4095", messages, "capacity", integer(4095))
        row("capacity-huge", messages, "capacity", integer(1 << 40))
        row("capacity-text", messages, "capacity", text("4096"))
        row("capacity-on-items", 0, "capacity", integer(4096))
        row("max-message-huge", messages, "max_message", integer(1 << 33))
        row("max-message-negative", messages, "max_message", integer(-1))
        row("created-at-integer", 0, "created_at", integer(0))
        row("writer-pid-0", 0, "writer_pid", integer(0))
        row("writer-pid-negative", 0, "writer_pid", integer(-5))
        row("writer-pid-huge", 0, "writer_pid", integer(1 << 40))
        row("writer-start-time-text", 0, "writer_start_time", text("yesterday"))
        row("writer-since-blob", 0, "writer_since", [7, 2, 0, 0])
        return seeds
    }

    private func layoutSeeds() -> [(name: String, bytes: [UInt8])] {
        let seeds: [(String, String)] = [
            ("tick", "time:u64,price:f64,qty:u32\n{\"time\":1,\"price\":2.5,\"qty\":3}\n{\"sequence\":9,\"time\":18446744073709551615,\"price\":-0.0,\"qty\":4294967295}\n{\"time\":-1,\"price\":1,\"qty\":0}\n{\"time\":1,\"price\":1e400,\"qty\":0}"),
            ("every-number", "a:u8,b:i8,c:u16,d:i16,e:u32,f:i32,g:u64,h:i64,i:f32,j:f64\n{\"a\":255,\"b\":-128,\"c\":65535,\"d\":-32768,\"e\":4294967295,\"f\":-2147483648,\"g\":18446744073709551615,\"h\":-9223372036854775808,\"i\":3.4028235e38,\"j\":1.7976931348623157e308}\n{\"a\":0,\"b\":127,\"c\":0,\"d\":32767,\"e\":0,\"f\":2147483647,\"g\":0,\"h\":9223372036854775807,\"i\":1e-45,\"j\":5e-324}\n{\"a\":256,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,\"i\":0,\"j\":0}\n{\"a\":1.0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,\"i\":3.5e38,\"j\":0}"),
            ("text-and-bytes", "s:char5,b:bytes3\n{\"s\":\"h\\u00e9llo\",\"b\":\"00ff7F\"}\n{\"s\":\"h\\u00e9llo!\",\"b\":\"00ff7f\"}\n{\"s\":\"a\\u0000b\",\"b\":\"000000\"}\n{\"s\":\"\",\"b\":\"0g0000\"}\n{\"s\":\"\\ud800\",\"b\":\"000000\"}\n{\"s\":\"\\ud83d\\ude00\",\"b\":\"000000\"}"),
            ("objects-gone-wrong", "x:u16\n{\"x\":1,\"x\":2}\n{\"y\":1}\n{}\n[1]\n{\"x\":1} trailing\n{\"x\":01}\n{\"x\":-}\n{\"x\":\"1\"}\n{\"x\":true}\n{\"x\":null}\n" + String(repeating: "[", count: 40) + "\n{\"x\":1"),
            ("spaces", " a : u8 , b:u64 \n {\"a\" : 1 , \"b\" : 2 } "),
            ("empty-spec", "\n{}"),
            ("spec-no-type", "a\n{\"a\":1}"),
            ("spec-u128", "a:u128"),
            ("spec-sequence", "sequence:u8"),
            ("spec-char0", "a:char0"),
            ("spec-char65536", "a:char65536"),
            ("spec-char65535", "a:char65535,b:bytes65535\n{\"a\":\"\",\"b\":\"00\"}"),
            ("spec-duplicate", "a:u8,a:u8"),
            ("spec-15-fields", (0..<15).map { "f\($0):u8" }.joined(separator: ",")),
            ("spec-14-fields", (0..<14).map { "f\($0):u8" }.joined(separator: ",") + "\n{" + (0..<14).map { "\"f\($0)\":\($0)" }.joined(separator: ",") + "}"),
            ("spec-digit-first", "1a:u8"),
            ("spec-long-name", String(repeating: "n", count: 24) + ":u8"),
            ("spec-empty-field", "a:u8,,b:u8"),
            ("spec-colons", "a:u8:u8"),
            ("spec-invalid-utf8", "a\u{FFFD}:u8"),
        ]
        return seeds.map { ($0.0, Array($0.1.utf8)) } + [("spec-raw-bytes", [0x61, 0x3A, 0x75, 0x38, 0x0A, 0x7B, 0x22, 0x61, 0x22, 0x3A, 0xFF, 0x7D])]
    }
}
