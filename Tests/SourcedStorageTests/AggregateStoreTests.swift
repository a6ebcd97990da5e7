import Logging
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedTestSupport
import Synchronization
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

    func withStore(
        logger: Logger = Logger(label: "test"),
        configuration: AggregateStore.Configuration = .init(),
        _ body: (AggregateStore) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let store = try await AggregateStore.open(
            path: directory.path, models: ["counter"], configuration: configuration, pool: pool,
            logger: logger, onFatal: { _ in }
        )
        try await body(store)
        store.directory.close()
        try await pool.shutdownGracefully()
    }

    var path: String { directory.file("aggregates/counter/c1.log") }

    @Test func appendedRecordsReplayInOrder() async throws {
        let log = makeLog(records: 4)
        try await withStore { store in
            try await store.append(Array(log.bytes[..<log.starts[2]]), to: key, at: 0)
            try await store.append(Array(log.bytes[log.starts[2]...]), to: key, at: log.starts[2])
            let replay = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory([]))
            #expect(replay.fold.versions == [1, 2, 3, 4])
            #expect(replay.version == 4 && replay.length == log.bytes.count && replay.restoredChains == 0)
            #expect(store.syncCount == 0, "aggregate logs are synced by syncLogs")
            try await store.syncLogs([key], directories: ["counter"])
            #expect(store.syncCount == 2, "one data sync and one directory sync")
        }
        #expect(try contents(of: path) == log.bytes)
    }

    /// A log of several pieces, with a record larger than a piece: read piece by piece, every
    /// record comes back; damage near its end is still found and repaired (read whole).
    @Test func aLongLogIsReadInPiecesAndDamageInALaterPieceIsRepaired() async throws {
        var chains = makeChains(40_000)
        let big = Array("[{\"type\":\"incremented\",\"count\":20000,\"note\":\"\(String(repeating: "x", count: 3 << 20))\"}]".utf8)
        chains[19_999] = CommittedChain(position: chains[19_999].position, key: key, firstVersion: 20_000, eventCount: 1, timestamp: 1, events: big)
        let log = aggregateLog(of: chains)
        #expect(log.bytes.count > 4 * AggregateStore.pieceSize)
        try write(log.bytes, to: path)
        try await withStore { store in
            let replay = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains))
            #expect(replay.fold.versions == Array(1...40_000))
            #expect(replay.length == log.bytes.count && replay.lastRecordOffset == log.starts[39_999] && replay.position == 400_000)
            let read = try await store.read(key, length: log.starts[30_000], into: RecordFold())
            #expect(read.versions == Array(1...30_000))
        }
        var damaged = log.bytes
        damaged[log.starts[39_000] + 40] ^= 1
        try write(damaged, to: path)
        try await withStore { store in
            let replay = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains))
            #expect(replay.fold.versions == Array(1...40_000) && replay.restoredChains == 1)
        }
        #expect(try contents(of: path) == log.bytes)
    }

    /// A damaged record in the middle: the log is rewritten beside and renamed over, the old file
    /// kept whole, and the repair logged; later reads see the new file.
    @Test func aDamagedRecordIsRewrittenFromTheGlobalLogAndTheOldFileKept() async throws {
        let chains = makeChains(3)
        let log = aggregateLog(of: chains)
        var damaged = log.bytes
        damaged[log.starts[1] + 40] ^= 1
        let (logger, messages) = RecordingLogHandler.logger()
        try await withStore(logger: logger) { store in
            try write(damaged, to: path)
            let replay = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains))
            #expect(replay.fold.versions == [1, 2, 3] && replay.fold.positions == [10, 20, 30])
            #expect(replay.length == log.bytes.count && replay.restoredChains == 1)
            #expect(try contents(of: path) == log.bytes)
            #expect(try contents(of: "\(path).damaged-\(log.starts[1])") == damaged, "the replaced file is kept whole")
            let again = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains))
            #expect(again.restoredChains == 0 && again.version == 3, "the new file is read, not the old descriptor")
            try await store.append(aggregateLog(of: makeChains(4)).bytes[log.bytes.count...].map { $0 }, to: key, at: log.bytes.count)
            #expect(try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(makeChains(4))).version == 4)
        }
        #expect(try contents(of: path) == aggregateLog(of: makeChains(4)).bytes, "the append went to the new file")
        #expect(messages.messages(atLeast: .notice) == ["repaired aggregate log from the global log"])
    }

    /// A damaged last record is cut off and replaced in place; its bytes are copied aside. A torn
    /// one, a prefix of what is restored, is completed without a copy.
    @Test func aDamagedOrTornTailIsReplacedInPlace() async throws {
        let chains = makeChains(3)
        let log = aggregateLog(of: chains)
        var damaged = log.bytes
        damaged[log.starts[2] + 40] ^= 1
        try await withStore { store in
            try write(damaged, to: path)
            #expect(try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains)).version == 3)
            #expect(try contents(of: path) == log.bytes)
            #expect(try contents(of: "\(path).torn-\(log.starts[2])") == Array(damaged[log.starts[2]...]))
            try write(Array(log.bytes.dropLast(5)), to: path)
            #expect(try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains)).version == 3)
            #expect(try contents(of: path) == log.bytes)
        }
        #expect(directory.allFiles() == ["LOCK", "aggregates/counter/c1.log", "aggregates/counter/c1.log.torn-\(log.starts[2])", "global.checkpoint", "global/00000000000000000001.log"])
    }

    @Test func aMissingLogIsRebuiltOnlyIfTheGlobalLogHoldsItsAggregate() async throws {
        let chains = makeChains(2)
        try await withStore { store in
            let empty = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory([]))
            #expect(empty.version == 0 && empty.fold.versions.isEmpty)
            #expect(directory.allFiles() == ["LOCK", "global.checkpoint", "global/00000000000000000001.log"], "no file is created for nothing")
            let rebuilt = try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(chains))
            #expect(rebuilt.version == 2 && rebuilt.restoredChains == 2)
        }
        #expect(try contents(of: path) == aggregateLog(of: chains).bytes)
        #expect(directory.allFiles() == ["LOCK", "aggregates/counter/c1.log", "global.checkpoint", "global/00000000000000000001.log"])
    }

    @Test func damageNoCopyCoversIsReportedAndLeftAlone() async throws {
        let chains = makeChains(3)
        var damaged = aggregateLog(of: chains).bytes
        damaged[40] ^= 1
        try await withStore { store in
            try write(damaged, to: path)
            await #expect {
                try await store.replay(key, into: RecordFold(), repairingFrom: ChainsInMemory(Array(chains[1...])))
            } throws: { error in
                guard case StorageError.corrupt(path, 0, let reason) = error else { return false }
                return reason.hasPrefix("checksum mismatch; no intact copy holds versions 1–1")
            }
        }
        #expect(try contents(of: path) == damaged)
    }

    /// Where `fstatfs` names a file system whose `syncfs` cannot be trusted (FUSE, NFS, ...), or
    /// cannot tell, each log written is `fdatasync`ed (and the directory of new ones `fsync`ed)
    /// instead of one `syncfs`.
    @Test(arguments: [(UInt32?(0x6573_5546), true), (0x6969, true), (nil, true), (0xEF53, false), (0x0102_1994, false)])
    func logsOnAFileSystemWhoseSyncfsCannotBeTrustedAreSyncedOneByOne(type: UInt32?, perLog: Bool) async throws {
        let fileSystemSyncs = Atomic<Int>(0)
        var calls = SystemCalls.posix
        calls.fileSystemType = { _ in type }
        calls.syncFileSystem = { _ in
            fileSystemSyncs.add(1, ordering: .relaxed)
            return 0
        }
        try await withStore(configuration: .init(systemCalls: calls)) { store in
            #expect((store.modelsSyncedPerLog["counter"] != nil) == perLog)
            try await store.append(makeLog(records: 1).bytes, to: key, at: 0)
            try await store.syncWrittenLogs(perLog ? [key] : [], createdIn: perLog ? ["counter"] : [])
            #expect(fileSystemSyncs.load(ordering: .relaxed) == (perLog ? 0 : 1))
            #expect(store.syncCount == (perLog ? 2 : 1), "a data sync and a directory sync, or one syncfs")
        }
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
