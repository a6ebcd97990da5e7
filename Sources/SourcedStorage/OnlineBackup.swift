import CLinux
import Glibc

/// A copy of a data directory taken while a sourced serves writes from it (`sourced backup`).
///
/// The copy is a state a crash of that sourced could have left, completed the way its start-up
/// would complete it, so that it needs nothing more: files are copied in the order that makes
/// each one hold no less than those before it imply, each only up to its last whole record.
///
/// 1. The global log's segment files are opened (and held open, so that retention deleting one
///    meanwhile does not take it from the copy; new ones are opened as they appear).
/// 2. `global.checkpoint`, the handlers' saved states and the snapshots are copied: each claims
///    only what the aggregate logs and the global log held durably before it was written.
/// 3. The aggregate logs are copied, each up to its last whole record (a write in flight is cut).
/// 4. The global log's segments are copied, each up to its last whole record. Every aggregate
///    record was written after its global record was, so the copied global log holds every
///    chain of the copied aggregate logs, and every chain acknowledged before the backup began.
/// 5. The aggregate logs that lag the copied global log (chains committed while they were being
///    copied) are completed from it, by ``LogChecker``'s repair, which also verifies everything
///    copied; a snapshot that does not match its copied log is deleted.
///
/// Guarantees, when ``run()`` returns:
/// - every chain acknowledged before it was called is in the copy, in its aggregate log and in
///   the global log, and the copy verifies as `sourced check` verifies;
/// - every file and directory of the copy is durable: each file is `fsync`ed, or, where the
///   destination's file system can be trusted with it (as the store decides for aggregate logs:
///   Linux 5.8 or later, and not FUSE, NFS, SMB or another of ``FileSystemMagic``'s), one
///   `syncfs` makes them all durable at the end; then each directory is `fsync`ed;
/// - the source was only read: no file of it was written and its lock was not taken.
///
/// Blocking: run it on a thread that may block. One file is held in memory at a time.
public struct OnlineBackup: Sendable {
    /// What a backup copied.
    public struct Summary: Sendable {
        /// Global log segments, and the positions they hold.
        public var segments = 0
        public var firstPosition: UInt64 = 1
        public var lastPosition: UInt64 = 0
        public var aggregateLogs = 0
        public var snapshots = 0
        public var handlerStates = 0
        /// Bytes written into the copy.
        public var bytes = 0
        /// Aggregate logs completed from the copied global log (their chains were committed
        /// while they were being copied).
        public var completedLogs = 0
    }

    /// The data directory copied.
    public let source: String
    /// Where the copy goes: a directory that does not exist or is empty.
    public let destination: String
    /// The state version of each model known, by name, for verifying snapshots (see ``LogChecker``).
    public let stateVersions: [String: Int]

    /// Segment files opened before they are copied: their first position and descriptor.
    private typealias HeldSegment = (first: UInt64, descriptor: Int32)

    /// How many aggregate logs are copied between two looks for new global segments.
    private static let segmentLookInterval = 256

    public init(source: String, destination: String, stateVersions: [String: Int] = [:]) {
        self.source = DataDirectory.trimmed(source)
        self.destination = DataDirectory.trimmed(destination)
        self.stateVersions = stateVersions
    }

    /// Copies ``source`` into ``destination`` (see the type's steps and guarantees).
    /// - Throws: ``BackupError``, or ``StorageError`` if a file cannot be read or written. A
    ///   backup that throws after creating files leaves them: delete the destination.
    public func run() throws -> Summary {
        try checkPaths()
        var summary = Summary()
        let syncEach = try !fileSystemSyncIsTrusted()
        var held = try holdSegments(after: 0)
        defer { held.forEach { close($0.descriptor) } }
        try DataDirectory.makeDirectory(destination + "/global")
        summary.bytes += try copyWhole("global.checkpoint", sync: syncEach) ?? 0
        let handlerStates = try PlainFiles.names(in: source + "/handlers", ifPresent: true).filter { $0.hasSuffix(".state") }
        if !handlerStates.isEmpty {
            try DataDirectory.makeDirectory(destination + "/handlers")
        }
        for name in handlerStates {
            if let copied = try copyWhole("handlers/" + name, sync: syncEach) {
                summary.handlerStates += 1
                summary.bytes += copied
            }
        }
        let snapshotModels = try models(in: "snapshots")
        for model in snapshotModels {
            let folder = "snapshots/" + model
            try DataDirectory.makeDirectory(destination + "/" + folder)
            for name in try PlainFiles.names(in: source + "/" + folder) where name.hasSuffix(SnapshotFile.suffix) {
                if let copied = try copyWhole(folder + "/" + name, sync: syncEach) {
                    summary.snapshots += 1
                    summary.bytes += copied
                }
            }
        }
        let aggregateModels = try models(in: "aggregates")
        try DataDirectory.makeDirectory(destination + "/aggregates")
        for model in aggregateModels {
            let folder = "aggregates/" + model
            try DataDirectory.makeDirectory(destination + "/" + folder)
            for name in try PlainFiles.names(in: source + "/" + folder) where name.hasSuffix(LogFileName.suffix) {
                guard let copied = try copyAggregateLog(folder + "/" + name, sync: syncEach) else { continue }
                summary.aggregateLogs += 1
                summary.bytes += copied
                if summary.aggregateLogs % Self.segmentLookInterval == 0 {
                    held += try holdSegments(after: held.last?.first ?? 0)
                }
            }
        }
        held += try holdSegments(after: held.last?.first ?? 0)
        try copyGlobalLog(held, sync: syncEach, into: &summary)
        summary.completedLogs = try complete()
        if !syncEach {
            try syncFileSystem()
        }
        let folders = ["global", "handlers", "aggregates", "snapshots"] + aggregateModels.map { "aggregates/" + $0 } + snapshotModels.map { "snapshots/" + $0 }
        for folder in folders where access(destination + "/" + folder, F_OK) == 0 {
            try DataDirectory.syncDirectory(destination + "/" + folder)
        }
        try DataDirectory.syncDirectory(destination)
        return summary
    }

    /// Refuses a source that is no data directory and a destination that is not empty, then
    /// creates the destination (durably) if it does not exist.
    private func checkPaths() throws {
        guard access(source + "/LOCK", F_OK) == 0 else { throw BackupError.notADataDirectory(path: source) }
        guard access(source + "/global.log", F_OK) != 0 else { throw BackupError.unsegmentedGlobalLog(path: source + "/global.log") }
        var info = stat()
        if stat(destination, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR {
            throw BackupError.destinationNotEmpty(path: destination)
        }
        guard try PlainFiles.names(in: destination, ifPresent: true).isEmpty else {
            throw BackupError.destinationNotEmpty(path: destination)
        }
        try DataDirectory.makeDirectory(destination)
    }

    /// The model directories under `folder` of the source (`aggregates` or `snapshots`).
    private func models(in folder: String) throws -> [String] {
        try PlainFiles.names(in: source + "/" + folder, ifPresent: true).filter { name in
            var info = stat()
            return !name.hasPrefix(".") && stat(source + "/" + folder + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
        }
    }

    /// Opens the source's segment files that start after position `first`. Before any is held
    /// (`first` 0), a file retention deleted since the listing means that it deleted every
    /// older one too: the log begins after it, and those opened before it are let go.
    /// - Throws: ``BackupError/segmentsDeleted(after:next:)`` if a later look finds a file gone.
    private func holdSegments(after first: UInt64) throws -> [HeldSegment] {
        var held: [HeldSegment] = []
        for next in try DataDirectory.segmentFirsts(in: source + "/global") where next > first {
            let path = source + "/global/" + GlobalSegment.fileName(first: next)
            let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard descriptor >= 0 else {
                let code = errno
                held.forEach { close($0.descriptor) }
                guard code == ENOENT else { throw StorageError.io(operation: "open", path: path, errno: code) }
                guard first == 0 else { throw BackupError.segmentsDeleted(after: first, next: next) }
                held = []
                continue
            }
            held.append((next, descriptor))
        }
        return held
    }

    /// Whether one `syncfs` of the destination's file system makes what was written to it
    /// durable, and reports a failure (see ``AggregateStore/fileSystemSyncReportsErrors``).
    private func fileSystemSyncIsTrusted() throws -> Bool {
        try withDestination { descriptor in
            AggregateStore.fileSystemSyncReportsErrors && FileSystemMagic.syncfsDistrust(SystemCalls.statFileSystemType(descriptor)) == nil
        }
    }

    /// Makes everything written to the destination's file system durable.
    private func syncFileSystem() throws {
        try withDestination { descriptor in
            guard sourced_syncfs(descriptor) == 0 else { throw StorageError.syncFailed(path: destination, errno: errno) }
        }
    }

    /// Runs `body` with the destination directory open.
    private func withDestination<Result>(_ body: (Int32) throws -> Result) throws -> Result {
        let descriptor = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: destination, errno: errno) }
        defer { close(descriptor) }
        return try body(descriptor)
    }

    /// Copies the file at `relative` whole, `fsync`ed with `sync`; `nil` if it no longer exists.
    private func copyWhole(_ relative: String, sync: Bool) throws -> Int? {
        guard let bytes = try readIfPresent(relative) else { return nil }
        try PlainFiles.create(destination + "/" + relative, with: bytes[...], sync: sync)
        return bytes.count
    }

    /// Copies the aggregate log at `relative` up to its last whole record (`fsync`ed with
    /// `sync`): a torn tail is a
    /// write in flight (its chain is in the global log, which is copied later). Damage with
    /// records after it is copied as it is: the completion repairs it as start-up would.
    /// - Returns: the bytes copied, `nil` if the file no longer exists.
    private func copyAggregateLog(_ relative: String, sync: Bool) throws -> Int? {
        guard let bytes = try readIfPresent(relative) else { return nil }
        let scan = bytes.withUnsafeBytes { LogScan($0) }
        let end = if case .torn(let offset) = scan.tail { offset } else { bytes.count }
        try PlainFiles.create(destination + "/" + relative, with: bytes[..<end], sync: sync)
        return end
    }

    /// The bytes of the file at `relative` in the source, `nil` if it does not exist.
    private func readIfPresent(_ relative: String) throws -> [UInt8]? {
        do {
            return try PlainFiles.read(source + "/" + relative)
        } catch StorageError.io(_, _, let code) where code == ENOENT {
            return nil
        }
    }

    /// Copies the records of the `held` segments, each after the previous one, and the index
    /// files of all but the last (which is active in the copy, whatever it is in the source);
    /// each file `fsync`ed with `sync`.
    private func copyGlobalLog(_ held: [HeldSegment], sync: Bool, into summary: inout Summary) throws {
        var last: UInt64?
        for (index, segment) in held.enumerated() {
            let name = GlobalSegment.fileName(first: segment.first)
            if let last, segment.first != last + 1 {
                throw BackupError.segmentsDeleted(after: last, next: segment.first)
            }
            let records = try segmentRecords(segment, path: source + "/global/" + name, isLast: index == held.count - 1)
            try PlainFiles.create(destination + "/global/" + name, with: records.bytes, sync: sync)
            last = records.last
            summary.bytes += records.bytes.count
        }
        for segment in held.dropLast() {
            for name in [GlobalSegment.indexFileName(first: segment.first), NewestPositionTable.fileName(first: segment.first)] {
                summary.bytes += try copyWhole("global/" + name, sync: sync) ?? 0
            }
        }
        summary.segments = held.count
        summary.firstPosition = held.first?.first ?? 1
        summary.lastPosition = last ?? 0
    }

    /// The records of `segment` up to its last whole one, and the last one's position.
    ///
    /// In the last segment a torn record is a commit in flight. A commit in flight can also be
    /// read with a hole (its later pages copied in before its first ones): a record after a bad
    /// spot. The segment is then read again, as long as that gets further.
    /// - Throws: ``BackupError/sourceDamaged(path:offset:reason:)`` for damage that stays, or a
    ///   sealed segment that does not verify to its end.
    private func segmentRecords(_ segment: HeldSegment, path: String, isLast: Bool) throws -> (bytes: ArraySlice<UInt8>, last: UInt64) {
        func scan(_ bytes: [UInt8]) -> LogScan {
            bytes.withUnsafeBytes { LogScan($0, sequencing: .positions, layout: .preallocated, after: segment.first - 1) { _ in } }
        }
        var bytes = try PlainFiles.read(segment.descriptor, path)
        var found = scan(bytes)
        while isLast, case .corrupt(let offset, _) = found.tail {
            let again = try PlainFiles.read(segment.descriptor, path)
            let rescan = scan(again)
            guard rescan.validLength > offset else { break }
            (bytes, found) = (again, rescan)
        }
        switch found.tail {
        case .clean:
            break
        case .torn where isLast:
            break
        case .torn(let offset):
            throw BackupError.sourceDamaged(path: path, offset: offset, reason: "a sealed segment ends in a torn record, and the next segment follows it")
        case .corrupt(let offset, let reason):
            throw BackupError.sourceDamaged(path: path, offset: offset, reason: reason)
        }
        return (bytes[..<found.validLength], found.position)
    }

    /// Completes the copy as start-up would: brings each aggregate log forward to the copied
    /// global log, and verifies every log (``LogChecker`` with repair), holding the copy's lock.
    /// - Returns: how many aggregate logs were completed.
    /// - Throws: ``BackupError/copyDoesNotVerify(destination:findings:)`` for what no repair fixes.
    private func complete() throws -> Int {
        let directory = try DataDirectory(path: destination, models: [])
        defer { directory.close() }
        let report = try LogChecker(directory, stateVersions: stateVersions).run(repair: true)
        let problems = report.findings.filter { !$0.isRepair }
        guard problems.isEmpty else {
            throw BackupError.copyDoesNotVerify(destination: destination, findings: problems.map(\.description))
        }
        return Set(report.findings.compactMap { if case .restored = $0.kind { $0.path } else { nil } }).count
    }
}
