import Glibc
import Logging
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Synchronization
import Testing

/// The global log kept zero-filled ahead of its records (`GlobalLogSpace`).
@Suite struct GlobalLogSpaceTests {
    let directory = TemporaryDirectory("space")
    var globalLog: String { directory.file("global/00000000000000000001.log") }

    /// Opens a store on the test's directory, runs `body`, then closes the directory (which waits
    /// for a fill in progress).
    func withStore(
        sync: SyncMode = .always,
        chunkSize: Int = AggregateStore.Configuration.defaultGlobalLogChunkSize,
        systemCalls: SystemCalls = .posix,
        logger: Logger = Logger(label: "test"),
        onFatal: @escaping @Sendable (StorageError) -> Void = { _ in },
        _ body: (AggregateStore) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let store = try await AggregateStore.open(
            path: directory.path, models: ["counter"],
            configuration: .init(sync: sync, systemCalls: systemCalls, globalLogChunkSize: chunkSize),
            pool: pool, logger: logger, onFatal: onFatal
        )
        do {
            try await body(store)
        } catch {
            store.directory.close()
            try await pool.shutdownGracefully()
            throw error
        }
        store.directory.close()
        try await pool.shutdownGracefully()
    }

    /// The file's size, and whether every byte from `logicalEnd` on is zero.
    func fileEnd(after logicalEnd: Int) throws -> (size: Int, zeroFilled: Bool) {
        let bytes = try contents(of: globalLog)
        return (bytes.count, bytes[logicalEnd...].allSatisfy { $0 == 0 })
    }

    @Test func aNewStoreStartsWithOneMinimumExtensionOfZeros() async throws {
        try await withStore { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.length == 0 && replay.positions.isEmpty)
        }
        #expect(try fileEnd(after: 0) == (1 << 20, true))
    }

    /// A zero-filled tail, as a previous run leaves it, is the log's clean end: nothing is cut,
    /// nothing is logged, and the length is the records' end.
    @Test func aZeroFilledTailRecoversCleanlyWithItsLengthAndPositions() async throws {
        let log = makeGlobalLog(records: 5)
        let file = log.bytes + [UInt8](repeating: 0, count: 1 << 20)
        try write(file, to: globalLog)
        let (logger, messages) = RecordingLogHandler.logger()
        try await withStore(logger: logger) { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2, 3, 4, 5])
            #expect(replay.length == log.bytes.count)
            #expect(replay.bytes == log.bytes)
        }
        #expect(messages.messages(atLeast: .notice).isEmpty)
        #expect(try contents(of: globalLog) == file, "the space was enough: untouched")
    }

    @Test func appendsContinueAtTheLogicalEndAfterARestart() async throws {
        let log = makeGlobalLog(records: 6)
        let first = Array(log.bytes[..<log.starts[3]])
        let second = Array(log.bytes[log.starts[3]...])
        try await withStore { store in
            _ = try await store.recoveredGlobalLog()
            try store.commitGlobalRecords(first)
        }
        #expect(try fileEnd(after: first.count) == (1 << 20, true))
        try await withStore { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2, 3] && replay.length == first.count)
            try store.commitGlobalRecords(second)
        }
        try await withStore { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2, 3, 4, 5, 6] && replay.length == log.bytes.count)
            #expect(replay.bytes == log.bytes)
        }
        #expect(try fileEnd(after: log.bytes.count) == (1 << 20, true))
    }

    /// A record whose last pages were never written, zeros after it: a torn last record, cut off
    /// (with a warning); the space is filled again and the next record takes its place.
    @Test func aTornRecordFollowedByZerosIsCutAsTorn() async throws {
        let log = makeGlobalLog(records: 3)
        var file = log.bytes + [UInt8](repeating: 0, count: 8192)
        for index in (log.starts[2] + 20)..<log.bytes.count { file[index] = 0 }
        try write(file, to: globalLog)
        let (logger, messages) = RecordingLogHandler.logger()
        try await withStore(logger: logger) { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2] && replay.length == log.starts[2])
            try store.commitGlobalRecords(Array(log.bytes[log.starts[2]...]))
        }
        #expect(messages.messages(atLeast: .warning) == ["cutting off torn tail of log"])
        let bytes = try contents(of: globalLog)
        #expect(Array(bytes[..<log.bytes.count]) == log.bytes)
        #expect(try fileEnd(after: log.bytes.count).zeroFilled)
    }

    /// A zero header with a record after it is damage before the end: reported, never cut.
    @Test func aRecordAfterAZeroHeaderIsReportedAsCorrupt() async throws {
        let log = makeGlobalLog(records: 2)
        let zeros = [UInt8](repeating: 0, count: 4096)
        let file = log.bytes + zeros + makeGlobalLog(records: 1, from: 3).bytes + zeros
        try write(file, to: globalLog)
        try await withStore { store in
            await #expect(throws: StorageError.corrupt(path: globalLog, offset: log.bytes.count, reason: "unknown record format 0")) {
                try await store.recoveredGlobalLog()
            }
        }
        #expect(try contents(of: globalLog) == file)
    }

    /// A stray non-zero byte in the zeros, with nothing plausible after it: torn, cut off.
    @Test func aStrayByteInTheZerosIsATornTail() async throws {
        let log = makeGlobalLog(records: 2)
        var zeros = [UInt8](repeating: 0, count: 4096)
        zeros[1000] = 1
        try write(log.bytes + zeros, to: globalLog)
        let (logger, messages) = RecordingLogHandler.logger()
        try await withStore(logger: logger) { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2] && replay.length == log.bytes.count)
        }
        #expect(messages.messages(atLeast: .warning) == ["cutting off torn tail of log"])
        #expect(try fileEnd(after: log.bytes.count) == (log.bytes.count + (1 << 20), true))
    }

    /// With a chunk far smaller than the batches, commits keep crossing the space's end: each
    /// waits for or makes its extension, and the log stays readable, restart after restart.
    @Test func commitsCrossingChunkBoundariesKeepTheLogReadable() async throws {
        let chunk = 256
        let log = makeGlobalLog(records: 60)
        // Batches of 1 to 4 records, and one of 20 (far larger than a chunk).
        var cuts = [0]
        var size = 1
        while cuts.last! < 40 {
            cuts.append(min(cuts.last! + size, 40))
            size = size % 4 + 1
        }
        cuts.append(60)
        func end(_ cut: Int) -> Int { cut < log.starts.count ? log.starts[cut] : log.bytes.count }
        for restart in 0..<2 {
            try await withStore(chunkSize: chunk) { store in
                let replay = try await store.recoveredGlobalLog()
                #expect(replay.length == (restart == 0 ? 0 : log.bytes.count))
                guard restart == 0 else { return }
                for (from, to) in zip(cuts, cuts.dropFirst()) {
                    try store.commitGlobalRecords(Array(log.bytes[end(from)..<end(to)]))
                }
            }
            let file = try fileEnd(after: log.bytes.count)
            #expect(file.zeroFilled && file.size > log.bytes.count && file.size <= log.bytes.count + 2 * chunk)
            #expect(scanGlobal(try contents(of: globalLog)).tail == .clean)
        }
        try await withStore(chunkSize: chunk) { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == Array(1...60) && replay.length == log.bytes.count)
        }
    }

    /// Into preallocated space a commit costs one `fdatasync`: no fill runs while space is left.
    @Test func commitsIntoTheSpaceSyncOnceEach() async throws {
        let log = makeGlobalLog(records: 10)
        try await withStore { store in
            _ = try await store.recoveredGlobalLog()
            let before = store.syncCount
            for index in 0..<10 {
                let end = index + 1 < 10 ? log.starts[index + 1] : log.bytes.count
                try store.commitGlobalRecords(Array(log.bytes[log.starts[index]..<end]))
            }
            #expect(store.syncCount - before == 10)
        }
    }

    /// A failed write of records is undone with zeros, durably: the file is byte for byte what it
    /// was, space included, and the next commit takes the same offset.
    @Test(arguments: [0, 20])
    func aFailedRecordWriteIsZeroedAgain(partial: Int) async throws {
        let faults = StorageFaults()
        let log = makeGlobalLog(records: 3)
        try await withStore(systemCalls: faults.systemCalls) { store in
            _ = try await store.recoveredGlobalLog()
            try store.commitGlobalRecords(Array(log.bytes[..<log.starts[2]]))
            let before = try contents(of: globalLog)
            faults.recordWriteFailure.withLock { $0 = (EIO, partial) }
            await #expect(throws: StorageError.io(operation: "write", path: globalLog, errno: EIO)) {
                try store.commitGlobalRecords(Array(log.bytes[log.starts[2]...]))
            }
            #expect(try contents(of: globalLog) == before)
            #expect(store.fatalError == nil)
            try store.commitGlobalRecords(Array(log.bytes[log.starts[2]...]))
        }
        try await withStore { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == [1, 2, 3] && replay.length == log.bytes.count)
        }
    }

    /// A disk too full for an extension does not refuse commits: they grow the file as without
    /// preallocation, with one warning; once a fill succeeds again, the space is back.
    @Test func aFailingFillFallsBackToGrowingTheFile() async throws {
        let faults = StorageFaults()
        faults.zeroWriteErrno.store(ENOSPC, ordering: .relaxed)
        let (logger, messages) = RecordingLogHandler.logger()
        let log = makeGlobalLog(records: 8)
        try await withStore(chunkSize: 4096, systemCalls: faults.systemCalls, logger: logger) { store in
            _ = try await store.recoveredGlobalLog()
            for index in 0..<4 {
                try store.commitGlobalRecords(Array(log.bytes[log.starts[index]..<log.starts[index + 1]]))
            }
            #expect(try fileEnd(after: log.starts[4]).size == log.starts[4], "no zeros: the file grew with the records")
            faults.zeroWriteErrno.store(0, ordering: .relaxed)
            for index in 4..<8 {
                let end = index + 1 < 8 ? log.starts[index + 1] : log.bytes.count
                try store.commitGlobalRecords(Array(log.bytes[log.starts[index]..<end]))
            }
        }
        let warnings = messages.messages(atLeast: .warning)
        #expect(warnings == ["cannot keep the global log zero-filled ahead; commits grow the file instead, with slower syncs"])
        #expect(messages.messages(atLeast: .notice).contains("the global log is zero-filled ahead again"))
        let file = try fileEnd(after: log.bytes.count)
        #expect(file.zeroFilled && file.size > log.bytes.count)
        try await withStore { store in
            let replay = try await store.recoveredGlobalLog()
            #expect(replay.positions == Array(1...8))
        }
    }

    /// The `fdatasync` of zeros a commit waits for fails: never retried, the store stops, the
    /// commit fails having written nothing.
    @Test func aFailedSyncOfZerosStopsTheStore() async throws {
        let faults = StorageFaults()
        let fatal = Mutex<StorageError?>(nil)
        let log = makeGlobalLog(records: 20)
        try await withStore(chunkSize: 256, systemCalls: faults.systemCalls, onFatal: { error in fatal.withLock { $0 = error } }) { store in
            _ = try await store.recoveredGlobalLog()
            let syncs = faults.syncCalls.load(ordering: .relaxed)
            faults.syncFailure.withLock { $0 = EIO }
            // 20 records do not fit into 256 bytes of space: the commit fills first.
            await #expect(throws: StorageError.syncFailed(path: globalLog, errno: EIO)) {
                try store.commitGlobalRecords(log.bytes)
            }
            #expect(faults.syncCalls.load(ordering: .relaxed) == syncs + 1, "never retried")
            #expect(fatal.withLock { $0 } == .syncFailed(path: globalLog, errno: EIO))
            #expect(throws: StorageError.self) {
                try store.commitGlobalRecords(log.bytes)
            }
        }
        let bytes = try contents(of: globalLog)
        #expect(bytes.allSatisfy { $0 == 0 }, "no record was written")
    }

    /// Preallocation only pays off in cheaper syncs: with sync `none`, or a chunk size of 0, the
    /// file ends with its last record.
    @Test(arguments: [(SyncMode.none, 1 << 20), (SyncMode.always, 0)])
    func withoutSyncsOrChunksTheFileEndsWithItsRecords(sync: SyncMode, chunkSize: Int) async throws {
        let log = makeGlobalLog(records: 3)
        try await withStore(sync: sync, chunkSize: chunkSize) { store in
            _ = try await store.recoveredGlobalLog()
            try store.commitGlobalRecords(log.bytes)
        }
        #expect(try contents(of: globalLog) == log.bytes)
    }

    /// `sourced check` reads the zero-filled space as the global log's clean end, and a torn
    /// record before it as a torn tail.
    @Test func theOfflineCheckAcceptsThePreallocatedLog() async throws {
        let log = makeGlobalLog(records: 4)
        try await withStore { store in
            _ = try await store.recoveredGlobalLog()
            try store.commitGlobalRecords(log.bytes)
        }
        // The aggregate log the global records belong to (counter c1, versions 1–4).
        let chains = try log.bytes.withUnsafeBytes { buffer in
            try log.starts.map { start in
                guard case .record(let header, let payload) = LogRecord.read(buffer, at: start) else { throw CancellationError() }
                return try CommittedChain(header, globalPayload: UnsafeRawBufferPointer(rebasing: buffer[payload]), command: nil)
            }
        }
        let aggregateLogPath = self.directory.file("aggregates/counter/c1.log")
        try write(aggregateLog(of: chains).bytes, to: aggregateLogPath)
        #expect(try fileEnd(after: log.bytes.count).size == 1 << 20)
        var directory = try DataDirectory(path: self.directory.path, models: ["counter"])
        let report = try LogChecker(directory).run(repair: false)
        directory.close()
        #expect(report.isClean && report.findings.isEmpty && report.records == 8)

        var torn = try contents(of: globalLog)
        torn[log.starts[3] + 40] = 0
        try write(torn, to: globalLog)
        try write(aggregateLog(of: Array(chains[..<3])).bytes, to: aggregateLogPath)
        directory = try DataDirectory(path: self.directory.path, models: ["counter"])
        let findings = try LogChecker(directory).run(repair: false).findings
        directory.close()
        #expect(findings.count == 1 && findings.first?.offset == log.starts[3])
        guard case .tornTail = findings.first?.kind else {
            Issue.record("expected a torn tail, found \(findings)")
            return
        }
    }
}

extension AggregateStore {
    /// Recovers the global log as start-up does and reads back what it holds.
    func recoveredGlobalLog() async throws -> (positions: [UInt64], length: Int, bytes: [UInt8]) {
        _ = try await recoverGlobalLog(checkpoint: 0)
        var bytes: [UInt8] = []
        var positions: [UInt64] = []
        while case let chains = try globalChains(after: positions.last ?? 0), !chains.isEmpty {
            for chain in chains {
                chain.appendGlobalRecord(to: &bytes)
                positions.append(chain.position)
            }
        }
        return (positions, bytes.count, bytes)
    }

    /// Commits whole global records, numbered from the first one's position.
    func commitGlobalRecords(_ records: [UInt8]) throws {
        try commitGlobal(records, first: records.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) })
    }
}
