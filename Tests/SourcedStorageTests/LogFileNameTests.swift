import SourcedCore
import SourcedStorage
import Testing

@Suite struct LogFileNameTests {
    static let hostile = [
        "../x", "..", ".", "/", "a/b", "/etc/passwd", "~x", "x.log", ".hidden", "a b", "%2e%2e",
        "C1", "c1", "ｃ1", "c\u{0301}", "\u{00E7}", "e\u{0301}", "\u{00E9}", "🙂", "\\", "*", "?",
        String(repeating: "é", count: 64), String(repeating: "x", count: 128), String(repeating: "/", count: 128),
    ]

    @Test func plainIdsNameTheirOwnFile() throws {
        #expect(LogFileName.make(for: try AggregateID("c1")) == "c1.log")
        #expect(LogFileName.make(for: try AggregateID("order-42_a.b")) == "order-42_a.b.log")
        #expect(LogFileName.make(for: try AggregateID("../x")) == "~fyxc66a.log")
    }

    @Test func everyIdMapsToOneSafeNameAndBack() throws {
        var seen: [String: String] = [:]
        for raw in Self.hostile {
            let id = try AggregateID(raw)
            let name = LogFileName.make(for: id)
            #expect(!name.contains("/") && !name.hasPrefix(".") && name.utf8.count <= 255, "\(raw) → \(name)")
            #expect(seen.updateValue(raw, forKey: name) == nil, "\(raw) collides with \(seen[name] ?? "")")
            #expect(LogFileName.id(fromFileName: name) == id)
        }
    }

    @Test(arguments: ["LOCK", "c1", ".log", "~.log", "~0.log", "~fyxc66b.log", "a/b.log", "~mfrgg.log"])
    func namesNoIdMapsToAreNotIds(name: String) {
        #expect(LogFileName.id(fromFileName: name) == nil)
    }
}
