import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Testing

/// `LogChecker`'s cross-check of aggregate logs against the global log, on files.
@Suite struct LogCheckerTests {
    let directory = TemporaryDirectory("check")

    /// Positions 1–3: `c1` versions 1 and 2, `c2` version 1.
    let chains: [CommittedChain] = {
        let c1 = AggregateKey(model: "counter", id: try! AggregateID("c1"))
        let c2 = AggregateKey(model: "counter", id: try! AggregateID("c2"))
        return [(c1, 1), (c1, 2), (c2, 1)].enumerated().map { index, chain in
            CommittedChain(
                position: UInt64(index + 1), key: chain.0, firstVersion: chain.1, eventCount: 1,
                timestamp: 7, events: Array(#"[{"type":"incremented","count":\#(chain.1)}]"#.utf8)
            )
        }
    }()

    func check(repair: Bool, writing c1: [CommittedChain]) throws -> LogChecker.Report {
        var global: [UInt8] = []
        chains.forEach { $0.appendGlobalRecord(to: &global) }
        let data = try DataDirectory(path: directory.path, models: ["counter"])
        defer { data.close() }
        try write(global, to: data.globalSegmentPath(first: 1))
        try write(aggregateLog(of: c1).bytes, to: directory.file("aggregates/counter/c1.log"))
        try write(aggregateLog(of: [chains[2]]).bytes, to: directory.file("aggregates/counter/c2.log"))
        return try LogChecker(data).run(repair: repair)
    }

    @Test func logsThatAgreeWithTheGlobalLogAreClean() throws {
        let report = try check(repair: false, writing: Array(chains[..<2]))
        #expect(report.isClean && report.findings.isEmpty && report.logs == 3 && report.records == 6)
    }

    /// Records that verify but disagree with the global log at their position (other events,
    /// another time, another aggregate's position) are reported, and `--repair` leaves them.
    @Test func recordsThatDisagreeWithTheGlobalLogAreReportedNotRepaired() throws {
        var otherEvents = chains[1]
        otherEvents.events = Array(#"[{"type":"incremented","count":9}]"#.utf8)
        var otherTime = chains[1]
        otherTime.timestamp = 8
        var otherPosition = chains[1]
        otherPosition.position = 3
        let path = directory.file("aggregates/counter/c1.log")
        for (record, reason) in [
            (otherEvents, "its events differ from those of global position 2"),
            (otherTime, "its header differs from global position 2's (its time)"),
            (otherPosition, "global position 3 holds a chain of aggregate counter/c2"),
        ] {
            for repair in [false, true] {
                let report = try check(repair: repair, writing: [chains[0], record])
                let starts = aggregateLog(of: [chains[0], record]).starts
                #expect(report.findings.map(\.description) == [
                    "\(path): the record at offset \(starts[1]) (aggregate counter/c1) differs from the global log: \(reason)",
                ])
                #expect(try contents(of: path) == aggregateLog(of: [chains[0], record]).bytes, "never rewritten")
            }
        }
    }
}
