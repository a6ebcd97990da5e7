import Logging
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Testing

/// Remembers the first version and the position of every record it is handed.
struct RecordFold: LogFold {
    var versions: [UInt64] = []
    var positions: [UInt64] = []

    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
        versions.append(header.firstVersion)
        positions.append(header.position)
    }
}

@Suite struct AggregateStoreTests {
    let directory = TemporaryDirectory("store")
    let key = AggregateKey(model: "counter", id: try! AggregateID("c1"))

    func withStore(_ body: (AggregateStore) async throws -> Void) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let store = try await AggregateStore.open(
            path: directory.path, models: ["counter"], configuration: .init(), pool: pool,
            logger: Logger(label: "test"), onFatal: { _ in }
        )
        try await body(store)
        store.directory.close()
        try await pool.shutdownGracefully()
    }

    @Test func appendedRecordsReplayInOrder() async throws {
        let log = makeLog(records: 4)
        try await withStore { store in
            try await store.append(Array(log.bytes[..<log.starts[2]]), to: key, at: 0)
            try await store.append(Array(log.bytes[log.starts[2]...]), to: key, at: log.starts[2])
            let replay = try await store.replay(key, into: RecordFold())
            #expect(replay.fold.versions == [1, 2, 3, 4])
            #expect(replay.version == 4 && replay.length == log.bytes.count)
            #expect(store.syncCount == 0, "aggregate logs are synced by syncLogs")
            try await store.syncLogs([key], directories: ["counter"])
            #expect(store.syncCount == 2, "one data sync and one directory sync")
        }
        #expect(try contents(of: directory.file("aggregates/counter/c1.log")) == log.bytes)
    }

    @Test func damagePastWhatRecoveryCanRewriteIsCutOffAndBeforeItReported() async throws {
        var damaged = makeLog(records: 3)
        damaged.bytes[damaged.starts[1] + 40] ^= 1
        let path = directory.file("aggregates/counter/c1.log")
        try await withStore { store in
            try write(damaged.bytes, to: path)
            await #expect(throws: StorageError.corrupt(path: path, offset: damaged.starts[1], reason: "checksum mismatch")) {
                try await store.replay(key, into: RecordFold(), repairableAfter: 2)
            }
            #expect(try contents(of: path) == damaged.bytes)
            let replay = try await store.replay(key, into: RecordFold(), repairableAfter: 1)
            #expect(replay.version == 1 && replay.length == damaged.starts[1])
        }
        #expect(try contents(of: path) == Array(damaged.bytes[..<damaged.starts[1]]))
    }

    @Test func aMissingLogIsAnEmptyAggregateAndCreatesNoFile() async throws {
        try await withStore { store in
            let replay = try await store.replay(key, into: RecordFold())
            #expect(replay.version == 0 && replay.fold.versions.isEmpty)
        }
        #expect(directory.allFiles() == ["LOCK", "global.checkpoint", "global.log"])
    }

    @Test func aTornTailIsCutOffOnDisk() async throws {
        let log = makeLog(records: 3)
        let path = directory.file("aggregates/counter/c1.log")
        try await withStore { store in
            try write(Array(log.bytes.dropLast(5)), to: path)
            let replay = try await store.replay(key, into: RecordFold())
            #expect(replay.version == 2 && replay.length == log.starts[2])
        }
        #expect(try contents(of: path) == Array(log.bytes[..<log.starts[2]]))
    }

    @Test func corruptionIsReportedAndLeftAlone() async throws {
        var damaged = makeLog(records: 3).bytes
        damaged[40] ^= 1
        let path = directory.file("aggregates/counter/c1.log")
        try await withStore { store in
            try write(damaged, to: path)
            await #expect(throws: StorageError.corrupt(path: path, offset: 0, reason: "checksum mismatch")) {
                try await store.replay(key, into: RecordFold())
            }
        }
        #expect(try contents(of: path) == damaged)
    }

    @Test func aSecondOpenOfTheDirectoryFailsWithTheOwner() throws {
        let first = try DataDirectory(path: directory.path, models: ["counter"])
        #expect(throws: StorageError.locked(directory: directory.path, owner: "pid \(getpid())")) {
            try DataDirectory(path: directory.path, models: ["counter"])
        }
        first.close()
        // Other tests of this process spawn daemons: a child forked while `first` was open holds
        // a copy of its lock descriptor until it execs; reopening waits for that.
        _ = try DataDirectory(path: directory.path, models: ["counter"])
    }
}
