import Dispatch
import Glibc
import Logging
import NIOCore
import NIOPosix
import SourcedCore
import Synchronization

/// Folds an aggregate's records into something, typically its state, while its log is read.
///
/// The fold runs on an I/O thread, record by record, so a long log is never held as decoded
/// events. A thrown error marks the log as corrupt at that record.
public protocol LogFold: Sendable {
    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws
}

/// Per-aggregate append-only logs in a ``DataDirectory``.
///
/// Every call that touches a file runs on the given `NIOThreadPool`, never on the caller's thread.
/// The store does not serialize calls for one aggregate; its single writer, the aggregate's actor,
/// does. A failed write is rolled back to the given offset. A failed sync stops the store: after
/// `fdatasync` fails the kernel may have dropped the dirty pages and a retry could falsely succeed
/// (PostgreSQL's "fsyncgate"), so every later append fails and `onFatal` tells the owner to exit.
public final class AggregateStore: Sendable {
    public struct Configuration: Sendable {
        /// When appends are made durable.
        public var sync: SyncMode
        /// How many log files may be open at once, independently of live aggregates.
        public var maximumOpenFiles: Int
        /// The system calls used to write, sync and open logs; tests inject faults here.
        public var systemCalls: SystemCalls
        /// The default of ``globalLogChunkSize``: 64 MiB.
        public static let defaultGlobalLogChunkSize = 64 << 20

        /// The most zero-filled space added to the global log at once (64 MiB by default; the
        /// first extensions are smaller, doubling with the file from 1 MiB). Commits write into
        /// space that is already written and synced, which makes their `fdatasync` cheaper (see
        /// ``GlobalLogSpace``). 0 turns preallocation off: the global log then grows with every
        /// commit (a zero-filled tail left by an earlier run is still used and read as the end).
        /// Not used with sync `none`.
        public var globalLogChunkSize: Int
        /// The default of ``globalSegmentSize``: 16 MiB.
        public static let defaultGlobalSegmentSize = 16 << 20
        /// The smallest ``globalSegmentSize``.
        public static let minimumGlobalSegmentSize = 4096

        /// The length past which the global log goes on in a new segment file (the segment that
        /// reaches it is finished with the commit that does). Start-up reads the segment being
        /// written in full, so this bounds its time and memory.
        public var globalSegmentSize: Int

        public init(
            sync: SyncMode = .always,
            maximumOpenFiles: Int = 1024,
            systemCalls: SystemCalls = .posix,
            globalLogChunkSize: Int = defaultGlobalLogChunkSize,
            globalSegmentSize: Int = defaultGlobalSegmentSize
        ) {
            precondition(globalLogChunkSize >= 0, "the global log's chunk size cannot be negative")
            precondition(globalSegmentSize >= Self.minimumGlobalSegmentSize, "a global segment holds at least 4096 bytes")
            self.sync = sync
            self.maximumOpenFiles = maximumOpenFiles
            self.systemCalls = systemCalls
            self.globalLogChunkSize = globalLogChunkSize
            self.globalSegmentSize = globalSegmentSize
        }
    }

    /// Records to append to one aggregate's log at `offset`, its current length.
    public struct AggregateAppend: Sendable {
        public var key: AggregateKey
        public var records: [UInt8]
        public var offset: Int

        public init(key: AggregateKey, records: [UInt8], offset: Int) {
            self.key = key
            self.records = records
            self.offset = offset
        }
    }

    /// Aggregate logs held open between ``holdLogs(for:)`` and ``appendAggregates(_:into:)``.
    public struct HeldLogs: Sendable {
        var keys: [AggregateKey] = []
        var descriptors: [Int32] = []
    }

    /// What a replay found.
    public struct Replay<Fold: LogFold>: Sendable {
        /// The fold after every valid record.
        public var fold: Fold
        /// The version of the last event, 0 for an aggregate with no events.
        public var version: UInt64
        /// The length of the valid log: where the next record goes.
        public var length: Int
        /// How many chains a repair restored from the global log (0 if the log needed none).
        public var restoredChains: Int
        /// Where the last valid record starts (0 for an empty log).
        public var lastRecordOffset = 0
        /// The global position of the last valid record, 0 for an empty log.
        public var position: UInt64 = 0
        /// Whether the replay started from a snapshot.
        public var snapshot = SnapshotUse.notAsked

        public init(
            fold: Fold, version: UInt64, length: Int, restoredChains: Int = 0, lastRecordOffset: Int = 0, position: UInt64 = 0,
            snapshot: SnapshotUse = .notAsked
        ) {
            self.snapshot = snapshot
            self.fold = fold
            self.version = version
            self.length = length
            self.restoredChains = restoredChains
            self.lastRecordOffset = lastRecordOffset
            self.position = position
        }
    }

    public let directory: DataDirectory
    public let configuration: Configuration
    private let pool: NIOThreadPool
    let descriptors: FileDescriptorCache
    let logger: Logger
    private let onFatal: @Sendable (StorageError) -> Void
    private let failure = Mutex<StorageError?>(nil)
    private let syncs = Atomic<Int>(0)
    /// The models whose logs are made durable one by one, each with why: their directory lies on
    /// a file system where `syncfs` cannot be trusted (``FileSystemMagic``). Empty on local file
    /// systems.
    public let modelsSyncedPerLog: [String: String]
    /// A model directory on each file system where `syncfs` is trusted: usually one.
    private let trustedFileSystems: [Int32]
    /// The devices of ``trustedFileSystems``: where a model first served later may keep its logs.
    private let trustedDevices: Set<UInt64>

    /// Opens and locks the data directory at `path`, running on `pool`.
    ///
    /// - Parameter onFatal: called once, from an I/O thread, when a sync fails and the store stops.
    public static func open(
        path: String,
        models: [String],
        configuration: Configuration,
        pool: NIOThreadPool,
        logger: Logger,
        onFatal: @escaping @Sendable (StorageError) -> Void
    ) async throws -> AggregateStore {
        let directory = try await pool.runIfActive { try DataDirectory(path: path, models: models) }
        return AggregateStore(directory, configuration, pool, logger, onFatal)
    }

    private init(
        _ directory: DataDirectory,
        _ configuration: Configuration,
        _ pool: NIOThreadPool,
        _ logger: Logger,
        _ onFatal: @escaping @Sendable (StorageError) -> Void
    ) {
        self.directory = directory
        self.configuration = configuration
        self.pool = pool
        self.descriptors = FileDescriptorCache(capacity: configuration.maximumOpenFiles)
        self.logger = logger
        self.onFatal = onFatal
        var perLog: [String: String] = [:]
        var devices: Set<UInt64> = []
        var trusted: [Int32] = []
        for model in directory.models {
            let descriptor = directory.descriptor(of: model)!
            if let reason = FileSystemMagic.syncfsDistrust(configuration.systemCalls.fileSystemType(descriptor)) {
                perLog[model] = reason
                continue
            }
            var info = stat()
            if fstat(descriptor, &info) != 0 || devices.insert(UInt64(info.st_dev)).inserted {
                trusted.append(descriptor)
            }
        }
        modelsSyncedPerLog = perLog
        trustedFileSystems = trusted
        trustedDevices = devices
    }

    /// Opens the directories of `models` not served when the store opened (a reload of the Lua
    /// models adds them), on the I/O threads.
    ///
    /// Such a directory must lie on a file system whose logs the checkpoint already makes durable
    /// with `syncfs`: the set of models synced log by log and of file systems synced is fixed at
    /// open.
    ///
    /// - Throws: ``StorageError/modelDirectoryNeedsRestart(path:reason:)`` for a directory
    ///   elsewhere, ``StorageError/io(operation:path:errno:)`` for one that cannot be made;
    ///   ``StorageError/shutDown`` once the I/O threads stopped.
    public func openModels(_ models: [String]) async throws {
        let directory = directory
        let fileSystemType = configuration.systemCalls.fileSystemType
        let devices = trustedDevices
        do {
            try await pool.runIfActive {
                try directory.openModels(models) { model, descriptor in
                    let path = "\(directory.path)/aggregates/\(model)"
                    if let reason = FileSystemMagic.syncfsDistrust(fileSystemType(descriptor)) {
                        throw StorageError.modelDirectoryNeedsRestart(path: path, reason: "needs its logs synced one by one (\(reason))")
                    }
                    var info = stat()
                    guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "fstat", path: path, errno: errno) }
                    guard devices.contains(UInt64(info.st_dev)) else {
                        throw StorageError.modelDirectoryNeedsRestart(path: path, reason: "lies on another file system than the models served at start")
                    }
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.shutDown
        }
    }

    /// How many `fdatasync`/`fsync` calls the store has made.
    public var syncCount: Int { syncs.load(ordering: .relaxed) }

    /// How many log files are open now.
    public var openFileCount: Int { descriptors.openCount }

    /// The failure that stopped the store, if one did.
    public var fatalError: StorageError? { failure.withLock { $0 } }

    /// Reads `key`'s log into `fold`, first repairing it from the global log if it is damaged,
    /// incomplete or missing.
    ///
    /// The log must reach the newest chain of its aggregate that `copy` holds, and every byte of
    /// it must verify. If not, it is repaired by ``LogRepair``'s rules and written by
    /// ``LogRepairWriter``'s, durably, before anything is folded; the repair is logged at
    /// `notice`. Every record in an aggregate log was written after the global log made it
    /// durable, so what a log holds may be served even if it reached only the page cache. Only
    /// the aggregate's single writer may call this, never while an append to the same log runs.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if the log holds damage no intact
    ///   copy covers, or disagrees with the global log; the log is then left untouched. A
    ///   ``ModelFault`` the fold throws (a model program that fails) is thrown as it is, and
    ///   nothing is repaired for it.
    public func replay<Fold: LogFold>(
        _ key: AggregateKey,
        into fold: Fold,
        repairingFrom copy: any GlobalLogCopy
    ) async throws -> Replay<Fold> {
        try await run { try self.replayNow(key, into: fold, repairingFrom: copy) }
    }

    /// ``replay(_:into:repairingFrom:)`` on the I/O pool, answered on `loop`.
    public func replay<Fold: LogFold>(
        _ key: AggregateKey,
        into fold: Fold,
        repairingFrom copy: any GlobalLogCopy,
        on loop: any EventLoop
    ) -> EventLoopFuture<Replay<Fold>> {
        run(on: loop) { try self.replayNow(key, into: fold, repairingFrom: copy) }
    }

    /// Reads the first `length` bytes of `key`'s log, all of them acknowledged records, into `fold`.
    ///
    /// Safe while the aggregate's writer appends beyond `length`; never repairs anything.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if those bytes do not verify.
    public func read<Fold: LogFold>(_ key: AggregateKey, length: Int, into fold: Fold) async throws -> Fold {
        guard length > 0 else { return fold }
        return try await run { try self.readNow(key, length: length, into: fold) }
    }

    /// ``read(_:length:into:)`` on the I/O pool, answered on `loop`.
    public func read<Fold: LogFold>(_ key: AggregateKey, length: Int, into fold: Fold, on loop: any EventLoop) -> EventLoopFuture<Fold> {
        guard length > 0 else { return loop.makeSucceededFuture(fold) }
        return run(on: loop) { try self.readNow(key, length: length, into: fold) }
    }

    private func readNow<Fold: LogFold>(_ key: AggregateKey, length: Int, into fold: Fold) throws -> Fold {
        try checkRunning()
        return try descriptors.withDescriptor(for: key, open: { try self.openLog(key, create: false) }) { descriptor in
            let path = self.directory.logPath(of: key)
            guard let descriptor else { throw StorageError.io(operation: "open", path: path, errno: ENOENT) }
            let pieces = try self.foldInPieces(descriptor, path, from: 0, to: length, after: 0, into: fold)
            guard pieces.clean, pieces.end == length else {
                throw StorageError.corrupt(path: path, offset: pieces.end, reason: "acknowledged records no longer verify")
            }
            return pieces.fold
        }
    }

    /// Appends `records` (whole encoded records) to `key`'s log at `offset`, its current length,
    /// creating the log if `offset` is 0. Nothing is synced: ``syncLogs(_:directories:)`` does
    /// that. On a throw the file is back at `offset` (or the store has stopped).
    public func append(_ records: [UInt8], to key: AggregateKey, at offset: Int) async throws {
        try await run {
            try self.checkRunning()
            try self.appendLog(AggregateAppend(key: key, records: records, offset: offset))
        }
    }

    /// Makes everything appended to the logs of `keys` durable, syncing up to `parallelism` files
    /// at once, then the directories of `models` (those in which logs were created since their
    /// last sync, so that the new logs' directory entries are durable too). A no-op with sync
    /// `none`.
    public func syncLogs(_ keys: [AggregateKey], directories models: Set<String>, parallelism: Int = 16) async throws {
        try await run { try self.syncLogsNow(keys, directories: models, parallelism: parallelism) }
    }

    /// ``syncLogs(_:directories:parallelism:)``, blocking the calling thread: for the engine's
    /// commit thread, never an event loop or a task.
    public func syncLogsNow(_ keys: [AggregateKey], directories models: Set<String>, parallelism: Int = 16) throws {
        guard configuration.sync != .none, !keys.isEmpty else { return }
        try checkRunning()
        let chunkSize = (keys.count + parallelism - 1) / parallelism
        let chunks = stride(from: 0, to: keys.count, by: chunkSize).map { keys[$0..<min($0 + chunkSize, keys.count)] }
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: chunks.count) { index in
            do {
                for key in chunks[index] {
                    try syncLog(key)
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        for model in models {
            try syncDirectory(ofModel: model)
        }
    }

    /// Whether this kernel's `syncfs` reports write-back errors (Linux 5.8 and later), which
    /// ``syncWrittenLogs(_:createdIn:)`` relies on.
    public static let fileSystemSyncReportsErrors: Bool = {
        var names = utsname()
        guard uname(&names) == 0 else { return false }
        let release = withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return false }
        return (parts[0], parts[1]) >= (5, 8)
    }()

    /// Makes the aggregate logs appended to since the last call durable, and the directory entries
    /// of new ones: with sync `always`, before the checkpoint passes them.
    ///
    /// On each file system where `syncfs` is trusted, one `syncfs` covers every log, however many,
    /// for the price of one call; since Linux 5.8 it reports write-back errors of any file of the
    /// file system. The logs of ``modelsSyncedPerLog`` are each `fdatasync`ed instead: `logs`
    /// must name every one of them written since the last call, and `models` those of their
    /// directories in which logs were created (their directories are `fsync`ed). Any failure
    /// stops the store like a failed `fdatasync`. A no-op with sync `none`.
    public func syncWrittenLogs(_ logs: [AggregateKey], createdIn models: Set<String>) async throws {
        guard configuration.sync != .none else { return }
        try await run {
            try self.checkRunning()
            for descriptor in self.trustedFileSystems {
                self.syncs.add(1, ordering: .relaxed)
                guard self.configuration.systemCalls.syncFileSystem(descriptor) == 0 else {
                    let error = StorageError.syncFailed(path: self.directory.path, errno: errno)
                    self.stop(error)
                    throw error
                }
            }
            try self.syncLogsNow(logs, directories: models)
        }
    }

    // MARK: - On I/O threads

    func appendLog(_ append: AggregateAppend) throws {
        let logs = try holdLogs(for: [append])
        defer { release(logs) }
        try write(append.records, to: logs.descriptors[0], at: append.offset, directory.logPath(of: append.key))
    }

    private func syncLog(_ key: AggregateKey) throws {
        let path = directory.logPath(of: key)
        try descriptors.withDescriptor(for: key, open: { try self.openLog(key, create: false) }) { descriptor in
            guard let descriptor else { throw StorageError.io(operation: "open", path: path, errno: ENOENT) }
            try sync(descriptor, path)
        }
    }

    func run<Result: Sendable>(on loop: any EventLoop, _ body: @escaping @Sendable () throws -> Result) -> EventLoopFuture<Result> {
        pool.runIfActive(eventLoop: loop, body).flatMapErrorThrowing { error in
            // A model's fault in a fold is the model's, not the storage's: passed on as it is.
            if let fault = error as? ModelFault { throw fault }
            throw error as? StorageError ?? .shutDown
        }
    }

    func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        do {
            return try await pool.runIfActive(body)
        } catch let error as StorageError {
            throw error
        } catch let fault as ModelFault {
            throw fault
        } catch {
            throw StorageError.shutDown
        }
    }

    /// After a failed sync the page cache may hold data that never reached the disk; nothing is
    /// read or written from then on.
    func checkRunning() throws {
        if let failure = failure.withLock({ $0 }) {
            throw StorageError.stopped(cause: failure.description)
        }
    }

    func openLog(_ key: AggregateKey, create: Bool) throws -> Int32? {
        guard let directoryDescriptor = directory.descriptor(of: key.model) else {
            preconditionFailure("model \(key.model) has no directory")
        }
        let name = LogFileName.make(for: key.id)
        // O_NOFOLLOW: a symlink planted in the data directory is refused, never followed.
        let descriptor = configuration.systemCalls.openat(directoryDescriptor, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0)
        if descriptor >= 0 { return descriptor }
        guard errno == ENOENT else {
            throw StorageError.io(operation: "open", path: directory.logPath(of: key), errno: errno)
        }
        guard create else { return nil }
        let created = configuration.systemCalls.openat(directoryDescriptor, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard created >= 0 else {
            throw StorageError.io(operation: "create", path: directory.logPath(of: key), errno: errno)
        }
        return created
    }

    /// Scans `buffer`, handing each valid record to `fold`; `base` is where `buffer` starts in
    /// the file at `path`, for the offset of an error.
    func fold<Fold: LogFold>(
        _ buffer: UnsafeRawBufferPointer,
        _ sequencing: LogScan.Sequencing,
        _ layout: LogScan.Layout = .appendOnly,
        after version: UInt64 = 0,
        into fold: Fold,
        _ path: String,
        base: Int = 0
    ) throws -> (Fold, LogScan) {
        var fold = fold
        var recordOffset = 0
        do {
            let scan = try LogScan(buffer, sequencing: sequencing, layout: layout, after: version) { entry in
                recordOffset = entry.offset
                try fold.apply(entry.header, payload: UnsafeRawBufferPointer(rebasing: buffer[entry.payload]))
            }
            return (fold, scan)
        } catch let fault as ModelFault {
            // The model failed, not the log: nothing is wrong on disk, so nothing is repaired.
            throw fault
        } catch {
            throw StorageError.corrupt(path: path, offset: base + recordOffset, reason: "undecodable events: \(error)")
        }
    }

    /// The size of the file open as `descriptor`.
    func fileSize(_ descriptor: Int32, _ path: String) throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "stat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// Reads the file, or its first `length` bytes.
    func readAll(_ descriptor: Int32, _ path: String, length: Int? = nil) throws -> [UInt8] {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "stat", path: path, errno: errno) }
        return try read(descriptor, path, 0..<min(Int(info.st_size), length ?? .max))
    }

    /// Reads the bytes of `range` of the file.
    func read(_ descriptor: Int32, _ path: String, _ range: Range<Int>) throws -> [UInt8] {
        let size = range.count
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            failure = Self.transfer(size) { done in
                pread(descriptor, buffer.baseAddress! + done, size - done, off_t(range.lowerBound + done))
            }.errno
            count = failure == 0 ? size : 0
        }
        guard failure == 0 else { throw StorageError.io(operation: "read", path: path, errno: failure) }
        return bytes
    }

    /// How a failed write is undone.
    enum Rollback {
        /// The file is cut back to where the write started (an aggregate log ends with its last record).
        case truncate
        /// The bytes the write got to are overwritten with zeros (the global log is zero-filled
        /// past its end, and keeps the space it has).
        case zeroFill
    }

    /// Writes `records` at `offset`; on failure rolls the file back to `offset`, durably, the way
    /// `rollback` says. `path`, for the error, is only built on failure: building it for every
    /// write showed in profiles.
    func write(
        _ records: [UInt8],
        to descriptor: Int32,
        at offset: Int,
        rollback: Rollback = .truncate,
        _ path: @autoclosure () -> String
    ) throws {
        let (failure, written) = records.withUnsafeBytes { buffer in
            Self.transfer(buffer.count) { done in
                configuration.systemCalls.pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
        }
        guard failure != 0 else { return }
        let undone = switch rollback {
        case .truncate: ftruncate(descriptor, off_t(offset)) == 0
        case .zeroFill: writeZeros(to: descriptor, at: offset, count: written) == 0
        }
        // Roll back durably: a crash must not resurrect records whose callers were told no.
        guard undone, configuration.sync == .none || configuration.systemCalls.sync(descriptor, false) == 0
        else {
            let code = errno
            let error = StorageError.rollbackFailed(path: path(), errno: code)
            stop(error)
            throw error
        }
        throw StorageError.io(operation: "write", path: path(), errno: failure)
    }

    /// Repeats `operation(bytesDone)`, a `pread` or `pwrite`, until `total` bytes moved.
    /// - Returns: `errno` 0, or that of the failure (`EIO` for an unexpected end of file), and how
    ///   many bytes moved before it.
    static func transfer(_ total: Int, _ operation: (Int) -> Int) -> (errno: Int32, done: Int) {
        var done = 0
        while done < total {
            let count = operation(done)
            if count > 0 {
                done += count
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return (count == 0 ? EIO : errno, done)
            }
        }
        return (0, done)
    }

    private func syncDirectory(ofModel model: String) throws {
        guard let descriptor = directory.descriptor(of: model) else {
            preconditionFailure("model \(model) has no directory")
        }
        try sync(descriptor, "\(directory.path)/aggregates/\(model)", fullSync: true)
    }

    /// `fdatasync` (or `fsync` with `fullSync`) of `descriptor`; `path`, for the error, is only
    /// built on failure (the commit path syncs a segment whose path is composed).
    func sync(_ descriptor: Int32, _ path: @autoclosure () -> String, fullSync: Bool = false) throws {
        syncs.add(1, ordering: .relaxed)
        guard configuration.systemCalls.sync(descriptor, fullSync) == 0 else {
            let code = errno
            let error = StorageError.syncFailed(path: path(), errno: code)
            stop(error)
            throw error
        }
    }

    /// Stops the store for good after a failure only a restart recovers from: every later read
    /// and write fails, and `onFatal` is called once.
    public func stop(_ error: StorageError) {
        let first = failure.withLock { failure in
            guard failure == nil else { return false }
            failure = error
            return true
        }
        guard first else { return }
        logger.critical("storage stopped", metadata: ["error": "\(error)"])
        onFatal(error)
    }
}
