import Foundation
import SharedRing

/// Buffers as Prometheus metrics, in the text exposition format (version 0.0.4): for
/// node_exporter's textfile collector, so that no HTTP server (and no web framework) enters the
/// tool. Names are documented in docs/cli.md.
enum Prometheus {
    static func exposition(_ statuses: [BufferStatus], damaged: [DamagedBufferRow] = []) -> String {
        var families: [(name: String, type: String, help: String, samples: [String])] = [
            ("cbuff_written_total", "counter", "Items (or messages) ever published to the buffer.", []),
            ("cbuff_items", "gauge", "Items (or messages) in the ring now.", []),
            ("cbuff_fill_ratio", "gauge", "How full the ring is, 0 to 1 (under the block policy with named readers: what the slowest has not consumed).", []),
            ("cbuff_capacity", "gauge", "Slots of a ring of items, bytes of a ring of messages.", []),
            ("cbuff_writer_alive", "gauge", "1 while a live process holds the writer lock.", []),
            ("cbuff_writer_died", "gauge", "1 if the last writer died without closing (crash or kill).", []),
            ("cbuff_reader_lag", "gauge", "Items (or messages) published after a named reader's position.", []),
            ("cbuff_reader_alive", "gauge", "1 while a live process has the named reader open.", []),
            ("cbuff_damaged", "gauge", "1 for a buffer whose registry row or ring file cannot be read (cbuff inspect says why).", []),
        ]
        func add(_ family: String, _ labels: [(String, String)], _ value: String) {
            guard let index = families.firstIndex(where: { $0.name == family }) else { return }
            let text = labels.map { "\($0.0)=\"\(escaped($0.1))\"" }.joined(separator: ",")
            families[index].samples.append("\(family){\(text)} \(value)")
        }
        for status in statuses {
            let buffer = [("buffer", status.record.name), ("kind", status.record.holdsMessages ? "messages" : "items")]
            add("cbuff_writer_alive", buffer, status.writerAlive ? "1" : "0")
            add("cbuff_capacity", buffer, String(status.record.messageCapacity ?? status.record.length))
            add("cbuff_damaged", buffer, status.ring == nil ? "1" : "0")
            guard let ring = status.ring else { continue }
            add("cbuff_written_total", buffer, String(ring.written))
            add("cbuff_items", buffer, String(ring.count))
            add("cbuff_fill_ratio", buffer, String(ring.fill))
            add("cbuff_writer_died", buffer, status.writerDied ? "1" : "0")
            for reader in ring.readers {
                let labels = buffer + [("reader", reader.name)]
                add("cbuff_reader_lag", labels, String(reader.lag))
                add("cbuff_reader_alive", labels, reader.alive ? "1" : "0")
            }
        }
        for row in damaged {
            add("cbuff_damaged", [("buffer", row.name ?? ""), ("kind", "unknown")], "1")
        }
        return families.map { family in
            (["# HELP \(family.name) \(family.help)", "# TYPE \(family.name) \(family.type)"] + family.samples).joined(separator: "\n")
        }.joined(separator: "\n") + "\n"
    }

    /// A label value: backslash, double quote and newline escaped, as the format asks.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
