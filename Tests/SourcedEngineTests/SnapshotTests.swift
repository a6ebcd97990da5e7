import Foundation
import Glibc
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

/// Snapshots: written every N events and on eviction, in the background; used by a load only when
/// they verify against the log, otherwise ignored, the log replayed and the snapshot replaced.
@Suite struct SnapshotTests {
    let directory = TemporaryDirectory("snapshots")

    func snapshotPath(_ raw: String) -> String {
        directory.file("data/snapshots/counter/\(SnapshotFile.fileName(for: id(raw)))")
    }

    /// The snapshot of counter `raw`, if its file exists and decodes.
    func snapshot(_ raw: String) -> SnapshotFile? {
        (try? contents(of: snapshotPath(raw))).flatMap { try? SnapshotFile(decoding: $0) }
    }

    func count(in snapshot: SnapshotFile) throws -> Int {
        try JSONDecoder().decode(Counter.State.self, from: Data(snapshot.state)).count
    }

    /// Counter `c1` with `events` events, one record each: `create`, then increments.
    func writeCounter(_ engine: Engine, events: Int, from first: Int = 1) async throws {
        for version in first...events {
            _ = try await engine.execute(Counter.self, id: id("c1"), commands: [version == 1 ? .create : .increment])
        }
    }

    @Test func writesASnapshotEveryNEvents() async throws {
        let engine = try await Engine.start(in: directory, snapshotInterval: 5)
        try await writeCounter(engine, events: 4)
        #expect(snapshot("c1") == nil)
        try await writeCounter(engine, events: 5, from: 5)
        try await waitUntil { snapshot("c1")?.version == 5 }
        try await writeCounter(engine, events: 12, from: 6)
        try await waitUntil { snapshot("c1")?.version == 10 }
        let written = try #require(snapshot("c1"))
        #expect(try count(in: written) == 9)
        #expect(written.model == "counter" && written.stateVersion == Counter.stateVersion)
        try await waitUntil { engine.statistics.snapshots == 2 }
        await engine.shutdown()
        #expect(snapshot("c1")?.version == 10, "no snapshot between the intervals")
    }

    @Test func writesASnapshotWhenAnAggregateWhoseLogGrewIsEvicted() async throws {
        let engine = try await Engine.start(in: directory, maximumAggregates: 1)
        try await writeCounter(engine, events: 3)
        #expect(snapshot("c1") == nil)
        _ = try await engine.snapshot(Counter.self, id: id("c2"))
        try await waitUntil { snapshot("c1")?.version == 3 }
        #expect(try count(in: #require(snapshot("c1"))) == 2)
        try await waitUntil { engine.statistics.snapshots == 1 }
        // Loaded again, from the snapshot, and evicted without growing: nothing new to write.
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).state == Counter.State(count: 2))
        _ = try await engine.snapshot(Counter.self, id: id("c2"))
        #expect(engine.statistics.snapshots == 1)
        #expect(!FileManager.default.fileExists(atPath: snapshotPath("c2")), "c2 was never created")
        await engine.shutdown()
    }

    /// A snapshot that verifies against the log is used as it is: one claiming a state the log
    /// does not hold (count 999) shows that the load did not replay the log.
    @Test func aLoadStartsFromASnapshotThatVerifiesAgainstTheLog() async throws {
        var engine = try await Engine.start(in: directory)
        try await writeCounter(engine, events: 12)
        await engine.shutdown()
        try write(forgedSnapshot(version: 12, count: 999).encoded(), to: snapshotPath("c1"))
        engine = try await Engine.start(in: directory)
        let loaded = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(loaded.version == 12 && loaded.state == Counter.State(count: 999))
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).state == Counter.State(count: 1000))
        await engine.shutdown()
    }

    /// What is wrong with a snapshot in ``ignoresAndReplacesASnapshotThatDoesNotVerify(_:)``.
    enum Fault: String, CaseIterable, Sendable {
        case flippedBit
        case olderStateVersion
        case versionTheLogDoesNotReach
        case versionAtAnotherOffset
    }

    @Test(arguments: Fault.allCases)
    func ignoresAndReplacesASnapshotThatDoesNotVerify(_ fault: Fault) async throws {
        var engine = try await Engine.start(in: directory)
        try await writeCounter(engine, events: 12)
        await engine.shutdown()
        var forged = try forgedSnapshot(version: 10, count: 999)
        var bytes: [UInt8]
        switch fault {
        case .flippedBit:
            bytes = forged.encoded()
            bytes[bytes.count - 6] ^= 0x10
        case .olderStateVersion:
            forged.stateVersion = Counter.stateVersion - 1
            bytes = forged.encoded()
        case .versionTheLogDoesNotReach:
            let length = try contents(of: logPath(directory, "counter", "c1")).count
            forged.version = 13
            forged.recordOffset = length
            forged.logLength = length + 40
            bytes = forged.encoded()
        case .versionAtAnotherOffset:
            forged.version = 11
            bytes = forged.encoded()
        }
        try write(bytes, to: snapshotPath("c1"))
        engine = try await Engine.start(in: directory)
        let loaded = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(loaded.version == 12 && loaded.state == Counter.State(count: 11))
        try await waitUntil { snapshot("c1")?.version == 12 }
        let replaced = try #require(snapshot("c1"))
        #expect(try count(in: replaced) == 11 && replaced.stateVersion == Counter.stateVersion)
        await engine.shutdown()
        engine = try await Engine.start(in: directory)
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).state == Counter.State(count: 11))
        await engine.shutdown()
    }

    /// A log cut back after its snapshot's record (what a power loss can leave before the
    /// checkpoint's sync) is still repaired from the global log at load: the snapshot verifies,
    /// but the records after it do not reach the global log's newest chain, so the whole log is
    /// replayed and repaired, and the snapshot rewritten.
    @Test func aLogCutBackAfterItsSnapshotIsRepairedFromTheGlobalLog() async throws {
        var engine = try await Engine.start(in: directory, snapshotInterval: 5)
        try await writeCounter(engine, events: 10)
        try await waitUntil { snapshot("c1")?.version == 10 }
        try await writeCounter(engine, events: 12, from: 11)
        await engine.shutdown()
        let log = logPath(directory, "counter", "c1")
        let original = try contents(of: log)
        let covered = try #require(snapshot("c1")).logLength
        try write(Array(original[..<covered]), to: log)
        engine = try await Engine.start(in: directory, snapshotInterval: 5)
        let loaded = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(loaded.version == 12 && loaded.state == Counter.State(count: 11))
        #expect(try contents(of: log) == original, "the log is repaired byte for byte")
        try await waitUntil { snapshot("c1")?.version == 12 }
        await engine.shutdown()
    }

    @Test func aFailedSnapshotWriteFailsNoCommand() async throws {
        var calls = SystemCalls.posix
        calls.openat = { directory, name, flags, mode in
            guard !name.hasSuffix(".tmp") else {
                errno = EIO
                return -1
            }
            return Glibc.openat(directory, name, flags, mode)
        }
        let engine = try await Engine.start(in: directory, snapshotInterval: 2, systemCalls: calls)
        try await writeCounter(engine, events: 9)
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).state == Counter.State(count: 8))
        #expect(engine.statistics.snapshots == 0 && snapshot("c1") == nil)
        #expect(!directory.allFiles().contains { $0.hasSuffix(".tmp") }, "the temporary file is removed")
        await engine.shutdown()
    }

    /// Accounts with 100 KB owners under a 1 MiB budget: idle ones are evicted as the estimate
    /// passes the budget, and each answers right when loaded again; with snapshots or without.
    @Test(arguments: [1000, 0])
    func theMemoryEstimateStaysWithinTheBudget(snapshotInterval: Int) async throws {
        let budget = 1 << 20
        let engine = try await Engine.start(in: directory, maximumMemory: budget, snapshotInterval: snapshotInterval)
        let owner = { (index: Int) in String(repeating: "o", count: 100_000) + "\(index)" }
        for index in 0..<40 {
            _ = try await engine.execute(Account.self, id: id("a\(index)"), commands: [.open(owner: owner(index)), .deposit(amount: index + 1)])
        }
        try await waitUntil { engine.statistics.aggregateMemory <= budget }
        #expect(engine.statistics.liveAggregates < 40 && engine.statistics.evictions > 0)
        for index in 0..<40 {
            let state = try await engine.snapshot(Account.self, id: id("a\(index)")).state
            #expect(state == Account.State(owner: owner(index), balance: index + 1, closed: false))
        }
        try await waitUntil { engine.statistics.aggregateMemory <= budget }
        await engine.shutdown()
    }

    /// A snapshot of counter `c1` at `version`, naming the log's record of that version, whose
    /// state claims `count`.
    func forgedSnapshot(version: UInt64, count: Int) throws -> SnapshotFile {
        let bytes = try contents(of: logPath(directory, "counter", "c1"))
        var found: (offset: Int, end: Int, position: UInt64)?
        _ = bytes.withUnsafeBytes { buffer in
            LogScan(buffer) { entry in
                if entry.header.lastVersion == version {
                    found = (entry.offset, entry.payload.upperBound, entry.header.position)
                }
            }
        }
        let record = try #require(found)
        return SnapshotFile(
            model: "counter", stateVersion: Counter.stateVersion, version: version, logLength: record.end,
            recordOffset: record.offset, position: record.position, state: Array(#"{"count":\#(count)}"#.utf8)
        )
    }
}
