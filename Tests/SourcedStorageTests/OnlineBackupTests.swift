import Glibc
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Testing

/// `OnlineBackup`'s copy, on files: what it takes of each log, how it completes the copy, what it
/// refuses.
@Suite struct OnlineBackupTests {
    let directory = TemporaryDirectory("backup")
    var source: String { directory.file("source") }
    var destination: String { directory.file("copy") }

    /// Positions 1–3: `c1` versions 1 and 2, `c2` version 1; and position 4, `c1` version 3.
    let chains: [CommittedChain] = {
        let c1 = AggregateKey(model: "counter", id: try! AggregateID("c1"))
        let c2 = AggregateKey(model: "counter", id: try! AggregateID("c2"))
        return [(c1, 1), (c1, 2), (c2, 1), (c1, 3)].enumerated().map { index, chain in
            CommittedChain(
                position: UInt64(index + 1), key: chain.0, firstVersion: chain.1, eventCount: 1,
                timestamp: 7, events: Array(#"[{"type":"incremented","count":\#(chain.1)}]"#.utf8)
            )
        }
    }()

    func globalLog(of chains: ArraySlice<CommittedChain>) -> [UInt8] {
        var bytes: [UInt8] = []
        chains.forEach { $0.appendGlobalRecord(to: &bytes) }
        return bytes
    }

    /// What a daemon in the middle of writing leaves: the global log's last commit half written
    /// (then its zero-filled space), `c1`'s log with its last record half written, `c2`'s not
    /// written yet. The copy takes the whole records only, and completes `c1` and `c2` from the
    /// copied global log; the source, locked by its owner throughout, is not touched.
    @Test func copiesWholeRecordsAndCompletesTheAggregateLogsFromTheGlobalLog() throws {
        let owner = try DataDirectory(path: source, models: ["counter"])
        defer { owner.close() }
        let segment = owner.globalSegmentPath(first: 1)
        let whole = globalLog(of: chains[..<3])
        let half = Array(globalLog(of: chains[3...]).prefix(50))
        try write(whole + half + [UInt8](repeating: 0, count: 4096), to: segment)
        let c1 = aggregateLog(of: [chains[0], chains[1]])
        let c1Torn = Array(c1.bytes[..<(c1.starts[1] + 20)])
        try write(c1Torn, to: source + "/aggregates/counter/c1.log")
        let before = try [segment, source + "/aggregates/counter/c1.log"].map(contents(of:))

        let summary = try OnlineBackup(source: source, destination: destination).run()

        #expect(try contents(of: destination + "/global/00000000000000000001.log") == whole, "whole records only, no space")
        #expect(try contents(of: destination + "/aggregates/counter/c1.log") == c1.bytes, "the torn record is the global log's")
        #expect(try contents(of: destination + "/aggregates/counter/c2.log") == aggregateLog(of: [chains[2]]).bytes)
        #expect(summary.segments == 1 && summary.firstPosition == 1 && summary.lastPosition == 3)
        #expect(summary.aggregateLogs == 1 && summary.completedLogs == 2 && summary.bytes == whole.count + c1.starts[1], "the torn record is not copied")
        #expect(try [segment, source + "/aggregates/counter/c1.log"].map(contents(of:)) == before, "the source is only read")
        let copy = try DataDirectory(path: destination, models: [])
        defer { copy.close() }
        #expect(try LogChecker(copy).run(repair: false).findings.map(\.description) == [])
    }

    /// A destination that holds anything, or is a file, is refused before anything is copied; so
    /// is a source that is no data directory.
    @Test func refusesADestinationThatIsNotEmptyAndASourceThatIsNoDataDirectory() throws {
        let owner = try DataDirectory(path: source, models: ["counter"])
        defer { owner.close() }
        try write([1, 2, 3], to: destination + "/keep")
        #expect(throws: BackupError.destinationNotEmpty(path: destination)) { try OnlineBackup(source: source, destination: destination).run() }
        #expect(try contents(of: destination + "/keep") == [1, 2, 3])
        #expect(throws: BackupError.destinationNotEmpty(path: destination + "/keep")) {
            try OnlineBackup(source: source, destination: destination + "/keep").run()
        }
        let empty = directory.file("empty")
        #expect(mkdir(empty, 0o750) == 0)
        #expect(throws: BackupError.notADataDirectory(path: empty)) { try OnlineBackup(source: empty, destination: directory.file("other")).run() }
        #expect(access(directory.file("other"), F_OK) != 0, "nothing created")
    }

    /// A sealed segment is whole: one whose last record is torn, with the next segment after it,
    /// is damage the copy cannot leave out, and refuses the backup.
    @Test func aSealedSegmentThatDoesNotVerifyToItsEndIsRefused() throws {
        let owner = try DataDirectory(path: source, models: ["counter"])
        defer { owner.close() }
        let sealed = globalLog(of: chains[..<3])
        try write(Array(sealed.dropLast(5)), to: owner.globalSegmentPath(first: 1))
        try write(globalLog(of: chains[3...]), to: owner.globalSegmentPath(first: 4))
        let offset = sealed.count - globalLog(of: chains[2..<3]).count
        #expect(throws: BackupError.sourceDamaged(
            path: owner.globalSegmentPath(first: 1), offset: offset, reason: "a sealed segment ends in a torn record, and the next segment follows it"
        )) { try OnlineBackup(source: source, destination: destination).run() }
    }
}
