import Foundation
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Testing

@Suite struct AggregateListingTests {
    let directory = TemporaryDirectory("listing")

    /// Writes a log file for each id: `bytes` bytes long.
    private func logs(_ ids: [String], bytes: Int = 8) throws {
        for id in ids {
            let path = directory.path + "/aggregates/counter/" + LogFileName.make(for: try AggregateID(id))
            #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: bytes)))
        }
    }

    private func page(_ ids: [String], more: Bool) throws -> DataDirectory.IDPage {
        DataDirectory.IDPage(ids: try ids.map { try AggregateID($0) }, more: more)
    }

    /// Pages cut in byte order of the ids' UTF-8, after the cursor, with `more` when ids follow;
    /// empty logs, damaged-bytes files and other names are not aggregates.
    @Test func pagesIdsInByteOrderAfterTheCursor() throws {
        let data = try DataDirectory(path: directory.path, models: ["counter", "account"])
        defer { data.close() }
        try logs(["b", "a", "c2", "c10", "../x", "Zed", "é"])
        try logs(["empty"], bytes: 0)
        let folder = directory.path + "/aggregates/counter/"
        #expect(FileManager.default.createFile(atPath: folder + "a.log.torn-16", contents: Data([1])))
        #expect(FileManager.default.createFile(atPath: folder + "notes.txt", contents: Data([1])))
        let all = ["../x", "Zed", "a", "b", "c10", "c2", "é"]
        #expect(try data.aggregateIDs(of: "counter", after: nil, limit: 100) == page(all, more: false))
        let first = try data.aggregateIDs(of: "counter", after: nil, limit: 3)
        #expect(try first == page(["../x", "Zed", "a"], more: true))
        let second = try data.aggregateIDs(of: "counter", after: first.ids.last, limit: 3)
        #expect(try second == page(["b", "c10", "c2"], more: true))
        let last = try data.aggregateIDs(of: "counter", after: second.ids.last, limit: 3)
        #expect(try last == page(["é"], more: false))
        // A cursor that is no aggregate's id still cuts in the same order.
        #expect(try data.aggregateIDs(of: "counter", after: AggregateID("bb"), limit: 1) == page(["c10"], more: true))
        #expect(try data.aggregateIDs(of: "account", after: nil, limit: 10) == page([], more: false))
        #expect(try data.aggregateIDs(of: "never-made", after: nil, limit: 10) == page([], more: false))
    }
}
