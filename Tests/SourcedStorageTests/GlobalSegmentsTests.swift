import Glibc
import Logging
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Testing

/// The global log in segment files: rolling, sealing with index files, start-up reading only
/// what it must, reads across segments, and the move from a single `global.log`.
@Suite struct GlobalSegmentsTests {
    let directory = TemporaryDirectory("segments")
    static let segmentSize = 4096
    static let keys = (0..<5).map { AggregateKey(model: "counter", id: try! AggregateID("c\($0)")) }

    /// Opens a store with 4 KiB segments, runs `body`, then closes the directory (which waits
    /// for sealing in progress).
    func withStore<Result>(
        logger: Logger = Logger(label: "test"),
        _ body: (AggregateStore) async throws -> Result
    ) async throws -> Result {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let store = try await AggregateStore.open(
            path: directory.path, models: ["counter"],
            configuration: .init(sync: .always, globalLogChunkSize: 1024, globalSegmentSize: Self.segmentSize),
            pool: pool, logger: logger, onFatal: { _ in }
        )
        defer { store.directory.close() }
        do {
            let result = try await body(store)
            try await pool.shutdownGracefully()
            return result
        } catch {
            try await pool.shutdownGracefully()
            throw error
        }
    }

    /// Chains at positions `range`, round-robin over ``keys``, one event each, versions counting
    /// per aggregate.
    static func chains(_ range: ClosedRange<UInt64>) -> [CommittedChain] {
        range.map { position in
            let index = Int((position - 1) % UInt64(keys.count))
            let version = (position - 1) / UInt64(keys.count) + 1
            return CommittedChain(
                position: position, key: keys[index], firstVersion: version, eventCount: 1, timestamp: Int64(position),
                events: Array(#"[{"type":"incremented","by":\#(position)}]"#.utf8)
            )
        }
    }

    /// Commits chains 1 ... `count` in batches of 7.
    func commit(_ count: UInt64, to store: AggregateStore, after last: UInt64 = 0) throws {
        var first = last + 1
        while first <= last + count {
            let batch = Self.chains(first...min(first + 6, last + count))
            var bytes: [UInt8] = []
            batch.forEach { $0.appendGlobalRecord(to: &bytes) }
            try store.commitGlobal(bytes, first: first)
            first += UInt64(batch.count)
        }
    }

    /// Every chain the store serves after position 0, read as subscribers read.
    func readAll(_ store: AggregateStore) throws -> [CommittedChain] {
        var chains: [CommittedChain] = []
        while case let next = try store.globalChains(after: chains.last?.position ?? 0, budget: 512), !next.isEmpty {
            chains += next
        }
        return chains
    }

    func files() -> [String] {
        directory.allFiles().filter { $0.hasPrefix("global/") }.map { String($0.dropFirst("global/".count)) }
    }

    @Test func theLogRollsIntoSegmentsNamedForTheirFirstPosition() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(1000, to: store)
            #expect(try readAll(store) == Self.chains(1...1000))
            #expect(try store.globalChains(after: 1000).isEmpty)
            // From any position, reading starts at the right chain.
            for position: UInt64 in [0, 1, 47, 255, 256, 257, 511, 998, 999] {
                #expect(try store.globalChains(after: position).first?.position == position + 1)
            }
        }
        let names = files()
        let logs = names.filter { $0.hasSuffix(".log") }
        #expect(logs.count > 10, "4 KiB segments: \(names)")
        #expect(logs.first == "00000000000000000001.log")
        // Each sealed segment is cut to its records and has an index; only the newest table stays.
        #expect(names.filter { $0.hasSuffix(".index") }.count == logs.count - 1)
        #expect(names.filter { $0.hasSuffix(".newest") } == [String(logs[logs.count - 2].dropLast(4)) + ".newest"])
        var next: UInt64 = 1
        for name in logs {
            #expect(name == GlobalSegment.fileName(first: next))
            let bytes = try contents(of: directory.file("global/" + name))
            let scan = bytes.withUnsafeBytes { LogScan($0, sequencing: .positions, layout: .preallocated, after: next - 1) { _ in } }
            #expect(scan.tail == .clean)
            if name != logs.last {
                #expect(scan.validLength == bytes.count && bytes.count >= Self.segmentSize, "\(name) is cut to its records")
            }
            next = scan.position + 1
        }
        #expect(next == 1001)
    }

    /// Start-up reads the active segment only; what it finds (newest positions, chains after
    /// the checkpoint) is what a full scan finds.
    @Test func startUpReadsOnlyTheActiveSegment() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(1000, to: store)
        }
        let recovery = try await withStore { store in try await store.recoverGlobalLog(checkpoint: 990) }
        let logs = files().filter { $0.hasSuffix(".log") }
        let active = try contents(of: directory.file("global/" + logs.last!)).count
        #expect(recovery.last == 1000 && recovery.segments == logs.count)
        #expect(recovery.bytesRead == active, "only the active segment is read")
        #expect(recovery.newest == Self.expectedNewest(through: 1000))
        #expect(Set(recovery.pending) == Set(Self.keys))
    }

    static func expectedNewest(through last: UInt64) -> [Int: UInt64] {
        var newest: [Int: UInt64] = [:]
        for chain in chains(1...last) {
            newest[NewestPositionTable.slot(of: chain.key)] = chain.position
        }
        return newest
    }

    /// Index files and the newest table are derived: deleted or damaged, start-up reads the
    /// segments it needs instead, finds the same, and writes them again.
    @Test(arguments: ["index", "newest", "all"])
    func missingOrDamagedIndexFilesAreRebuilt(damage: String) async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(1000, to: store)
        }
        let before = files()
        let logs = before.filter { $0.hasSuffix(".log") }
        let lastSealed = String(logs[logs.count - 2].dropLast(4))
        switch damage {
        case "index":
            try write(Array("not an index".utf8), to: directory.file("global/\(lastSealed).index"))
        case "newest":
            var table = try contents(of: directory.file("global/\(lastSealed).newest"))
            table[30] ^= 1
            try write(table, to: directory.file("global/\(lastSealed).newest"))
        default:
            for name in before where !name.hasSuffix(".log") {
                unlink(directory.file("global/" + name))
            }
        }
        let recovery = try await withStore { store in
            let recovery = try await store.recoverGlobalLog(checkpoint: 1000)
            #expect(try readAll(store) == Self.chains(1...1000))
            return recovery
        }
        #expect(recovery.newest == Self.expectedNewest(through: 1000))
        #expect(recovery.bytesRead > 0)
        #expect(files() == before, "every index file and the last table are back")
        let again = try await withStore { store in try await store.recoverGlobalLog(checkpoint: 1000) }
        #expect(again.bytesRead == (try contents(of: directory.file("global/" + logs.last!)).count))
    }

    /// Chains after a checkpoint in an older segment are all pending, whatever segment they are in.
    @Test func aCheckpointInAnOlderSegmentMakesEveryLaterChainPending() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(1000, to: store)
        }
        let recovery = try await withStore { store in try await store.recoverGlobalLog(checkpoint: 3) }
        #expect(Set(recovery.pending) == Set(Self.keys))
        #expect(recovery.pending.first == Self.keys[3], "in the order of their first chain after the checkpoint")
        #expect(recovery.bytesRead > 900 * 80)
    }

    /// Appending after a restart goes on in the active segment, and the log reads whole.
    @Test func appendsAfterARestartContinueTheActiveSegment() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(300, to: store)
        }
        try await withStore { store in
            #expect(try await store.recoverGlobalLog(checkpoint: 0).last == 300)
            try commit(300, to: store, after: 300)
            #expect(try readAll(store) == Self.chains(1...600))
        }
    }

    /// A data directory written by a build without segments: its `global.log` becomes the first
    /// segment, byte for byte.
    @Test func aSingleGlobalLogBecomesTheFirstSegment() async throws {
        var bytes: [UInt8] = []
        Self.chains(1...100).forEach { $0.appendGlobalRecord(to: &bytes) }
        try write(bytes + [UInt8](repeating: 0, count: 4096), to: directory.file("global.log"))
        try await withStore { store in
            #expect(try await store.recoverGlobalLog(checkpoint: 0).last == 100)
            #expect(try readAll(store) == Self.chains(1...100))
            try commit(100, to: store, after: 100)
            #expect(try readAll(store) == Self.chains(1...200))
        }
        #expect(access(directory.file("global.log"), F_OK) != 0)
        #expect(Array(try contents(of: directory.file("global/00000000000000000001.log"))[..<bytes.count]) == bytes)
    }

    /// Both a `global.log` and segments: which one holds the truth is unknown, so the store
    /// refuses to open and touches neither.
    @Test func aGlobalLogBesideSegmentsIsRefused() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(10, to: store)
        }
        try write([1, 2, 3], to: directory.file("global.log"))
        await #expect(throws: StorageError.corrupt(
            path: directory.file("global.log"), offset: 0,
            reason: "both global.log and segments in global/ exist: restore the data directory from one backup"
        )) {
            try await withStore { _ in }
        }
    }

    /// A sealed segment that lost its last record (cut back) is damage, never a torn tail to cut:
    /// the next segment continues after it. Start-up refuses if it must read it; `check` reports it.
    @Test func aTruncatedSealedSegmentIsCorrupt() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(200, to: store)
        }
        let logs = files().filter { $0.hasSuffix(".log") }
        let victim = directory.file("global/" + logs[0])
        let bytes = try contents(of: victim)
        try write(Array(bytes[..<(bytes.count - 10)]), to: victim)
        await #expect(throws: StorageError.self) {
            try await withStore { store in _ = try await store.recoverGlobalLog(checkpoint: 1) }
        }
        let data = try DataDirectory(path: directory.path, models: ["counter"])
        defer { data.close() }
        let report = try LogChecker(data).run(repair: false)
        #expect(report.findings.map(\.description).contains { $0.hasPrefix(victim + ": corrupt at offset") && $0.contains("a sealed segment ends in a torn record") }, "\(report.findings)")
        #expect(!report.isClean)
    }

    /// `sourced check` reads every segment: a clean multi-segment log with its aggregate logs is clean.
    @Test func theOfflineCheckReadsEverySegment() async throws {
        try await withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try commit(500, to: store)
        }
        let chains = Self.chains(1...500)
        for key in Self.keys {
            try write(aggregateLog(of: chains.filter { $0.key == key }).bytes, to: directory.file("aggregates/counter/\(key.id.rawValue).log"))
        }
        let data = try DataDirectory(path: directory.path, models: ["counter"])
        defer { data.close() }
        let report = try LogChecker(data).run(repair: false)
        #expect(report.isClean, "\(report.findings)")
        #expect(report.records == 1000, "500 global records and 500 aggregate records")
        #expect(report.logs == files().filter { $0.hasSuffix(".log") }.count + 5)
    }
}

/// Retention: the oldest sealed segments deleted on request, and what readers, start-up and
/// `sourced check` make of a global log that begins later than position 1.
@Suite struct GlobalRetentionTests {
    let segments = GlobalSegmentsTests()

    @Test func droppedSegmentsAreGoneForReadersAndTheRestServesAsBefore() async throws {
        try await segments.withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try segments.commit(1000, to: store)
            // Nothing past the bound goes, whatever the size.
            #expect(try await store.dropGlobalSegments(endingBy: 0, keepingBytes: 0) == 0)
            let dropped = try await store.dropGlobalSegments(endingBy: 1000, keepingBytes: 3 * GlobalSegmentsTests.segmentSize)
            #expect(dropped > 5)
            #expect(try await store.dropGlobalSegments(endingBy: 1000, keepingBytes: 3 * GlobalSegmentsTests.segmentSize) == 0)
        }
        let logs = segments.files().filter { $0.hasSuffix(".log") }
        #expect(logs.count >= 2 && logs.count <= 4, "about 3 segments' worth kept, never the newest sealed one: \(logs)")
        #expect(!segments.files().contains(GlobalSegment.fileName(first: 1)))
        #expect(segments.files().filter { $0.hasSuffix(".index") }.count == logs.count - 1, "index files go with their segments")
        let earliest = GlobalSegment.first(ofFileName: logs[0])!
        try await segments.withStore { store in
            let recovery = try await store.recoverGlobalLog(checkpoint: 1000)
            #expect(recovery.last == 1000 && recovery.segments == logs.count)
            #expect(recovery.newest == GlobalSegmentsTests.expectedNewest(through: 1000), "the newest table kept them all")
            #expect(throws: StorageError.positionDropped(earliest: earliest)) {
                try store.globalChains(after: earliest - 2)
            }
            var chains: [CommittedChain] = []
            while case let next = try store.globalChains(after: chains.last?.position ?? earliest - 1), !next.isEmpty {
                chains += next
            }
            #expect(chains == GlobalSegmentsTests.chains(earliest...1000))
            // A repair finds no chains where the copy was dropped.
            let key = GlobalSegmentsTests.keys[0]
            #expect(try store.globalChains(of: key, in: 1...1000) == chains.filter { $0.key == key })
        }
    }

    /// `sourced check` compares each aggregate log with what is left and reports nothing for the
    /// records whose copy was dropped.
    @Test func theOfflineCheckOfARetainedLogIsClean() async throws {
        try await segments.withStore { store in
            _ = try await store.recoverGlobalLog(checkpoint: 0)
            try segments.commit(500, to: store)
            try await store.dropGlobalSegments(endingBy: 500, keepingBytes: 2 * GlobalSegmentsTests.segmentSize)
        }
        let chains = GlobalSegmentsTests.chains(1...500)
        for key in GlobalSegmentsTests.keys {
            try write(aggregateLog(of: chains.filter { $0.key == key }).bytes, to: segments.directory.file("aggregates/counter/\(key.id.rawValue).log"))
        }
        let data = try DataDirectory(path: segments.directory.path, models: ["counter"])
        defer { data.close() }
        let report = try LogChecker(data).run(repair: false)
        #expect(report.isClean, "\(report.findings)")
    }
}
