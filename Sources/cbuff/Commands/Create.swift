import ArgumentParser
import SharedRing

extension OverflowPolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { allCases.map(\.description) }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a buffer.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name: letters, digits and . _ - : @ + (at most 200 bytes).")
    var name: String

    // .unconditional: "--length -5" is a length to refuse with its range, not a missing value.
    @Option(parsing: .unconditional, help: "Bytes per item (1 to 16777216).")
    var itemSize: Int

    @Option(parsing: .unconditional, help: "Number of items the ring holds (at least 2).")
    var length: Int

    @Option(help: "What a push does when the ring is full: overwrite the oldest item, or block.")
    var policy: OverflowPolicy = .overwrite

    func run() throws {
        try reportingErrors {
            let writer = try global.directory.createBuffer(name, itemSize: itemSize, length: length, policy: policy)
            try Output.print("created \(Values.quoted(name)): \(length) items of \(itemSize) bytes, \(policy), \(writer.path)\n")
            writer.close()
        }
    }
}
