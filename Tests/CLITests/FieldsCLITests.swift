import Foundation
import Testing
import TestSupport

/// Buffers with fields from the command line: `create --fields`, JSON lines in and out, and
/// every bad line refused with exit 65 naming it.
@Suite struct FieldsCLITests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input)
    }

    func createTicks() throws {
        let created = try cbuff("create", "ticks", "--fields", "time:u64,price:f64,qty:u32", "--length", "8")
        #expect(created.status == 0 && created.stdout.contains("24 bytes (fields time:u64,price:f64,qty:u32)"), "\(created)")
    }

    @Test func jsonLinesGoInAndComeOutWithTheirSequence() throws {
        try createTicks()
        let pushed = try cbuff("push", "ticks", "--stdin", "--format", "jsonl",
                               input: "{\"time\":1,\"price\":2.5,\"qty\":3}\n\n{\"qty\":4294967295,\"price\":-0.1,\"time\":18446744073709551615}\n")
        #expect(pushed.status == 0, "\(pushed)")
        #expect(try cbuff("push", "ticks", "{\"time\":3,\"price\":1e3,\"qty\":7}").status == 0)   // jsonl is the default here
        let expected = """
            {"sequence":0,"time":1,"price":2.5,"qty":3}
            {"sequence":1,"time":18446744073709551615,"price":-0.1,"qty":4294967295}
            {"sequence":2,"time":3,"price":1000.0,"qty":7}

            """
        #expect(try cbuff("tail", "ticks", "--format", "jsonl").stdout == expected)
        #expect(try cbuff("pop", "ticks", "-n", "3").stdout == expected)
        // tail's output pushed into another buffer of the same fields copies it (the sequence key is ignored).
        _ = try cbuff("create", "copy", "--fields", "time:u64,price:f64,qty:u32", "--length", "8")
        #expect(try cbuff("push", "copy", "--stdin", input: try cbuff("tail", "ticks").stdout).status == 0)
        #expect(try cbuff("tail", "copy").stdout == expected)
        // The bytes are the C layout's, little-endian: hex shows the 24 bytes, most significant first.
        #expect(try cbuff("pop", "ticks", "--format", "hex").stdout == "0x000000000000000340040000000000000000000000000001\n")
    }

    @Test func inspectShowsTheFieldsAndTheLayoutSize() throws {
        _ = try cbuff("create", "ticks", "--fields", "time:u64,price:f64,qty:u32", "--length", "8", "--integrity", "checked")
        let outcome = try cbuff("inspect", "ticks", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(object["itemSize"] as? Int == 24)
        #expect(object["formatVersion"] as? Int == 4)           // the fields' description, and a check word in every slot
        #expect(object["itemAlignment"] as? Int == 8)
        #expect(object["typeName"] is NSNull)
        let fields = try #require(object["fields"] as? [[String: Any]])
        #expect(fields.map { $0["name"] as? String } == ["time", "price", "qty"])
        #expect(fields.map { $0["type"] as? String } == ["u64", "f64", "u32"])
        #expect(fields.map { $0["offset"] as? Int } == [0, 8, 16])
        #expect(try cbuff("inspect", "ticks").stdout.contains("fields       time:u64@0 price:f64@8 qty:u32@16"))
        _ = try cbuff("create", "plain", "--item-size", "8", "--length", "4", "--integrity", "unchecked")
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "plain", "--json").stdout.utf8)) as? [String: Any])
        #expect(plain["fields"] is NSNull && plain["formatVersion"] as? Int == 2)
        _ = try cbuff("create", "described", "--fields", "time:u64", "--length", "4", "--integrity", "unchecked")
        let described = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "described", "--json").stdout.utf8)) as? [String: Any])
        #expect(described["formatVersion"] as? Int == 3)
    }

    @Test(arguments: [
        ("{\"time\":1,\"price\":2.5}", "field \"qty\" is missing"),
        ("{\"time\":1,\"price\":2.5,\"qty\":3,\"side\":1}", "unknown field \"side\""),
        ("{\"time\":1,\"price\":2.5,\"qty\":3,\"qty\":3}", "given twice"),
        ("{\"time\":1,\"price\":2.5,\"qty\":4294967296}", "holds 0 to 4294967295, not 4294967296"),
        ("{\"time\":-1,\"price\":2.5,\"qty\":3}", "not -1"),
        ("{\"time\":1.5,\"price\":2.5,\"qty\":3}", "needs an integer"),
        ("{\"time\":1,\"price\":\"2.5\",\"qty\":3}", "needs a number"),
        ("{\"time\":1,\"price\":1e999,\"qty\":3}", "cannot hold"),
        ("{\"time\":1,\"price\":2.5,\"qty\":3", "not JSON"),
        ("[1,2,3]", "not a JSON object"),
    ])
    func aBadLineIsExit65NamingItAfterPushingTheLinesBefore(line: String, mention: String) throws {
        try createTicks()
        let outcome = try cbuff("push", "ticks", "--stdin", input: "{\"time\":1,\"price\":2.5,\"qty\":3}\n" + line + "\n{\"time\":9,\"price\":9,\"qty\":9}\n")
        #expect(outcome.status == 65, "\(outcome)")
        #expect(outcome.stderr.contains("line 2") && outcome.stderr.contains(mention) && outcome.stderr.contains("pushed 1 item before it"), "\(outcome.stderr)")
        #expect(try cbuff("tail", "ticks").stdout == "{\"sequence\":0,\"time\":1,\"price\":2.5,\"qty\":3}\n")
        // As arguments, nothing is pushed when any value is bad.
        let arguments = try cbuff("push", "ticks", "{\"time\":2,\"price\":2.5,\"qty\":3}", line)
        #expect(arguments.status == 65 && arguments.stderr.contains("value 2") && arguments.stderr.contains("nothing was pushed"), "\(arguments)")
        #expect(try cbuff("inspect", "ticks", "--json").stdout.contains("\"written\":1"))
    }

    @Test func textAndByteFieldsAndSignedIntegers() throws {
        #expect(try cbuff("create", "sym", "--fields", "sym:char4,id:bytes2,t:i16,x:f32", "--length", "4").status == 0)
        #expect(try cbuff("push", "sym", "{\"sym\":\"héy\",\"id\":\"0aFF\",\"t\":-32768,\"x\":0.1}").status == 0)
        #expect(try cbuff("tail", "sym").stdout == "{\"sequence\":0,\"sym\":\"héy\",\"id\":\"0aff\",\"t\":-32768,\"x\":0.1}\n")
        let long = try cbuff("push", "sym", "{\"sym\":\"toolong\",\"id\":\"0000\",\"t\":0,\"x\":0}")
        #expect(long.status == 65 && long.stderr.contains("at most 4 bytes"), "\(long)")
        let odd = try cbuff("push", "sym", "{\"sym\":\"a\",\"id\":\"000\",\"t\":0,\"x\":0}")
        #expect(odd.status == 65 && odd.stderr.contains("exactly 4 hexadecimal digits"), "\(odd)")
        let wide = try cbuff("push", "sym", "{\"sym\":\"a\",\"id\":\"0000\",\"t\":32768,\"x\":0}")
        #expect(wide.status == 65 && wide.stderr.contains("-32768 to 32767"), "\(wide)")
    }

    @Test func badFieldSpecsAndMisuseAreUsageErrors() throws {
        for (spec, mention) in [("time:u65", "unknown type"), ("a:u8,a:u8", "appears twice"), ("sequence:u64", "sequence"), ("x", "name:type")] {
            let outcome = try cbuff("create", "bad", "--fields", spec, "--length", "4")
            #expect(outcome.status == 64 && outcome.stderr.contains(mention), "\(spec): \(outcome)")
        }
        let disagree = try cbuff("create", "bad", "--fields", "a:u64", "--item-size", "4", "--length", "4")
        #expect(disagree.status == 64 && disagree.stderr.contains("disagrees"), "\(disagree)")
        #expect(try cbuff("create", "ok", "--fields", "a:u64", "--item-size", "8", "--length", "4").status == 0)
        _ = try cbuff("create", "ints", "--item-size", "8", "--length", "4")
        let noFields = try cbuff("push", "ints", "--format", "jsonl", "{\"a\":1}")
        #expect(noFields.status == 64 && noFields.stderr.contains("has no fields"), "\(noFields)")
        #expect(try cbuff("list", "--json").stdout.contains("\"name\":\"ok\"") && !(try cbuff("list").stdout.contains("bad")))
    }
}
