import Glibc
import SourcedCore

/// Verifies every log of a data directory offline, the way `redis-check-aof` does, cross-checks
/// every aggregate log against the global log, and can repair what an intact copy covers.
///
/// The global log is verified first (a torn tail is cut off by `repair`, its bytes saved beside
/// it). Each aggregate log is then compared with it record by record (position, aggregate,
/// versions and the record's bytes) and checked by the rules of ``LogRepair``: damage, chains it
/// lacks, a missing log. `repair` rewrites those from the global log with ``LogRepairWriter``,
/// keeping replaced bytes; damage no intact copy covers, and records that verify but disagree
/// with the global log, are only reported. It never deletes valid data. Snapshots are verified
/// last, against the logs as repaired: checksum, model, state version, and the log's record they
/// name; `repair` deletes a bad one (a load would ignore it and replay the log). Blocking: run it
/// on a thread that may block, with no daemon using the directory.
public struct LogChecker {
    /// One finding.
    public struct Finding: Sendable, CustomStringConvertible {
        public enum Kind: Sendable {
            /// An incomplete last write of the global log (or of a file whose name is no
            /// aggregate's): `bytes` bytes from `offset` on.
            case tornTail(bytes: Int)
            /// Damage no intact copy covers, or a record out of sequence: reported, never touched.
            case corrupt(reason: String)
            /// A torn tail that `--repair` cut off, its bytes saved in `savedTo`.
            case repaired(bytes: Int, savedTo: String)
            /// An aggregate record that verifies but disagrees with the global log at its position:
            /// reported, never touched.
            case differs(reason: String)
            /// What the global log can repair, and how (``LogRepair/Fix``).
            case repairable(problem: String, remedy: String)
            /// What `--repair` repaired from the global log; replaced bytes kept in `keptIn`.
            case restored(problem: String, remedy: String, keptIn: String?)
            /// A snapshot a load would ignore, and why.
            case badSnapshot(reason: String)
            /// A snapshot `--repair` deleted, and why.
            case deletedSnapshot(reason: String)
        }

        public var path: String
        /// The aggregate the log belongs to, `nil` for the global log.
        public var aggregate: AggregateKey?
        public var offset: Int
        public var kind: Kind

        public var description: String {
            let subject = aggregate.map { "aggregate \($0)" } ?? (path.contains("/global/") ? "global log" : "a name no aggregate has")
            let snapshot = "snapshot of \(aggregate.map { "aggregate \($0)" } ?? "a name no aggregate has")"
            return switch kind {
            case .tornTail(let bytes):
                "\(path): torn tail of \(bytes) bytes at offset \(offset) (\(subject)); --repair cuts it off"
            case .corrupt(let reason):
                "\(path): corrupt at offset \(offset) (\(subject)): \(reason)"
            case .repaired(let bytes, let savedTo):
                "\(path): cut off a torn tail of \(bytes) bytes at offset \(offset) (\(subject)); the bytes are saved in \(savedTo)"
            case .differs(let reason):
                "\(path): the record at offset \(offset) (\(subject)) differs from the global log: \(reason)"
            case .repairable(let problem, let remedy):
                "\(path): \(problem) (\(subject)); --repair fixes it by \(remedy)"
            case .restored(let problem, let remedy, let keptIn):
                "\(path): \(problem) (\(subject)); fixed by \(remedy)" + (keptIn.map { "; the replaced bytes are kept in \($0)" } ?? "")
            case .badSnapshot(let reason):
                "\(path): \(reason) (\(snapshot)); a load ignores it and replays the log; --repair deletes it"
            case .deletedSnapshot(let reason):
                "\(path): \(reason) (\(snapshot)); deleted, the next load replays the log and writes a new one"
            }
        }

        /// Whether the finding is a repair made, not a problem left.
        public var isRepair: Bool {
            switch kind {
            case .repaired, .restored, .deletedSnapshot: true
            case .tornTail, .corrupt, .differs, .repairable, .badSnapshot: false
            }
        }
    }

    /// What a check found, and what it read.
    public struct Report: Sendable {
        public var findings: [Finding] = []
        public var logs = 0
        public var records = 0
        public var snapshots = 0

        /// Whether every log verified and agrees with the global log (after repairs, if any were
        /// made).
        public var isClean: Bool {
            findings.allSatisfy(\.isRepair)
        }
    }

    public let directory: DataDirectory
    /// The state version of each model known, by name: a snapshot of another is reported.
    public let stateVersions: [String: Int]

    public init(_ directory: DataDirectory, stateVersions: [String: Int] = [:]) {
        self.directory = directory
        self.stateVersions = stateVersions
    }

    /// Checks the global log and every aggregate log against it; with `repair`, cuts off a torn
    /// tail of the global log and repairs aggregate logs from it, missing ones included.
    ///
    /// The zero-filled space after the global log's last record is its clean end (see
    /// ``LogScan/Layout/preallocated``), never a finding.
    public func run(repair: Bool) throws -> Report {
        var report = Report()
        let global = try checkGlobalLog(repair: repair, into: &report)
        var seen: Set<AggregateKey> = []
        let aggregates = directory.path + "/aggregates"
        for model in try PlainFiles.names(in: aggregates) where !model.hasPrefix(".") {
            let folder = aggregates + "/" + model
            for name in try PlainFiles.names(in: folder) where name.hasSuffix(LogFileName.suffix) {
                guard let id = LogFileName.id(fromFileName: name) else {
                    try checkUnnamed(folder + "/" + name, repair: repair, into: &report)
                    continue
                }
                let key = AggregateKey(model: model, id: id)
                seen.insert(key)
                try check(key, in: folder, against: global, repair: repair, into: &report)
            }
        }
        for key in global.positions.keys.filter({ !seen.contains($0) }).sorted(by: { "\($0)" < "\($1)" }) {
            try check(key, in: aggregates + "/" + key.model, against: global, repair: repair, into: &report)
        }
        let snapshots = directory.path + "/snapshots"
        for model in try PlainFiles.names(in: snapshots, ifPresent: true) where !model.hasPrefix(".") {
            for name in try PlainFiles.names(in: snapshots + "/" + model) where name.hasSuffix(SnapshotFile.suffix) {
                try checkSnapshot(name, of: model, repair: repair, into: &report)
            }
        }
        return report
    }

    /// Verifies snapshot `name` of `model` as a load would, against the aggregate's log as it is
    /// now; with `repair`, deletes it if a load would ignore it. (Whether its state decodes is
    /// left to the load, which knows the model's type.)
    private func checkSnapshot(_ name: String, of model: String, repair: Bool, into report: inout Report) throws {
        let folder = directory.path + "/snapshots/" + model
        let path = folder + "/" + name
        let id = LogFileName.id(fromFileName: String(name.dropLast(SnapshotFile.suffix.count)))
        let key = id.map { AggregateKey(model: model, id: $0) }
        report.snapshots += 1
        let problem: String
        do {
            guard let key else { throw SnapshotRejection.malformed("its name maps to no aggregate") }
            let snapshot = try SnapshotFile(decoding: try PlainFiles.read(path))
            guard snapshot.model == model else { throw SnapshotRejection.wrongModel(found: snapshot.model, expected: model) }
            if let current = stateVersions[model], snapshot.stateVersion != current {
                throw SnapshotRejection.stateVersion(found: snapshot.stateVersion, expected: current)
            }
            let logPath = directory.logPath(of: key)
            let log = open(logPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard log >= 0 else { throw SnapshotRejection.logDisagrees("its log \(logPath) cannot be opened: \(StorageError.message(errno))") }
            defer { close(log) }
            let bytes = try PlainFiles.read(log, logPath)
            guard bytes.count >= snapshot.logLength else {
                throw SnapshotRejection.logDisagrees("the log ends at offset \(bytes.count), before the snapshot's offset \(snapshot.logLength)")
            }
            try snapshot.verifyCoveredRecord(Array(bytes[snapshot.recordOffset..<snapshot.logLength]))
            return
        } catch let rejection as SnapshotRejection {
            problem = rejection.description
        }
        guard repair else {
            report.findings.append(Finding(path: path, aggregate: key, offset: 0, kind: .badSnapshot(reason: problem)))
            return
        }
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folderDescriptor >= 0 else { throw StorageError.io(operation: "open", path: folder, errno: errno) }
        defer { close(folderDescriptor) }
        guard unlinkat(folderDescriptor, name, 0) == 0, fsync(folderDescriptor) == 0 else {
            throw StorageError.io(operation: "delete", path: path, errno: errno)
        }
        report.findings.append(Finding(path: path, aggregate: key, offset: 0, kind: .deletedSnapshot(reason: problem)))
    }

    /// Verifies the global log's segments, cutting a torn tail of the active one with `repair`,
    /// and indexes what verifies. (Their index files are derived: start-up rebuilds a bad one.)
    private func checkGlobalLog(repair: Bool, into report: inout Report) throws -> CheckedGlobalLog {
        var global = CheckedGlobalLog()
        let segments = directory.globalSegments.segments
        for (index, segment) in segments.enumerated() {
            let path = directory.globalSegmentPath(first: segment.first)
            let isActive = index == segments.count - 1
            guard index == 0 || global.last + 1 == segment.first else {
                report.findings.append(Finding(path: path, aggregate: nil, offset: 0, kind: .corrupt(
                    reason: "the segment starts at position \(segment.first) but the global log before it ends at position \(global.last)"
                )))
                break
            }
            let (bytes, length, tail) = try verify(
                path, .positions, .preallocated, after: segment.first - 1, followed: !isActive, repair: repair && isActive, into: &report
            )
            try global.append(bytes, validLength: length, path: path, first: segment.first)
            if !isActive, tail != .clean {
                break
            }
        }
        return global
    }

    /// Verifies a log whose name maps to no aggregate, as the global log is verified.
    private func checkUnnamed(_ path: String, repair: Bool, into report: inout Report) throws {
        _ = try verify(path, .versions, .appendOnly, repair: repair, into: &report)
    }

    /// Verifies the log at `path` by ``LogScan``'s rules, reporting (and with `repair`, cutting)
    /// a torn tail and reporting corruption; a torn tail of a log that is `followed` by more (a
    /// sealed global segment) is corruption. Returns its bytes, valid length and tail.
    private func verify(
        _ path: String,
        _ sequencing: LogScan.Sequencing,
        _ layout: LogScan.Layout,
        after: UInt64 = 0,
        followed: Bool = false,
        repair: Bool,
        into report: inout Report
    ) throws -> (bytes: [UInt8], validLength: Int, tail: LogScan.Tail) {
        let descriptor = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        let bytes = try PlainFiles.read(descriptor, path)
        let scan = bytes.withUnsafeBytes { LogScan($0, sequencing: sequencing, layout: layout, after: after) { _ in } }
        report.logs += 1
        report.records += scan.recordCount
        switch scan.tail {
        case .clean:
            break
        case .corrupt(let offset, let reason):
            report.findings.append(Finding(path: path, aggregate: nil, offset: offset, kind: .corrupt(reason: reason)))
        case .torn(let offset) where followed:
            // Not an interrupted last write: the next segment goes on after it.
            report.findings.append(Finding(path: path, aggregate: nil, offset: offset, kind: .corrupt(
                reason: "a sealed segment ends in a torn record, and the next segment follows it"
            )))
        case .torn(let offset) where repair:
            let saved = "\(path).torn-\(offset)"
            try PlainFiles.create(saved, with: bytes[offset...])
            guard ftruncate(descriptor, off_t(offset)) == 0, fsync(descriptor) == 0 else {
                throw StorageError.io(operation: "truncate", path: path, errno: errno)
            }
            report.findings.append(Finding(path: path, aggregate: nil, offset: offset, kind: .repaired(bytes: bytes.count - offset, savedTo: saved)))
        case .torn(let offset):
            report.findings.append(Finding(path: path, aggregate: nil, offset: offset, kind: .tornTail(bytes: bytes.count - offset)))
        }
        return (bytes, scan.validLength, scan.tail)
    }

    /// Cross-checks the log of `key` in `folder` (which may not exist) against `global`, and
    /// repairs it with `repair`.
    private func check(_ key: AggregateKey, in folder: String, against global: CheckedGlobalLog, repair: Bool, into report: inout Report) throws {
        let name = LogFileName.make(for: key.id)
        let path = folder + "/" + name
        let descriptor = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 || errno == ENOENT else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { if descriptor >= 0 { close(descriptor) } }
        let bytes = descriptor >= 0 ? try PlainFiles.read(descriptor, path) : []
        let survey = bytes.withUnsafeBytes { AggregateLogSurvey($0) }
        if descriptor >= 0 {
            report.logs += 1
        }
        report.records += survey.records.count
        for record in survey.records {
            if let reason = Self.disagreement(record, of: key, in: bytes, with: global) {
                report.findings.append(Finding(path: path, aggregate: key, offset: record.offset, kind: .differs(reason: reason)))
            }
        }
        switch LogRepair.plan(bytes, newest: global.newestPosition(of: key), chains: { global.chains(of: key, in: $0) }) {
        case .intact:
            break
        case .corrupt(let offset, let reason):
            report.findings.append(Finding(path: path, aggregate: key, offset: offset, kind: .corrupt(reason: reason)))
        case .repair(let plan):
            let fixes = plan.fixes.map { fix in
                descriptor >= 0
                    ? (fix.offset, fix.problem, fix.remedy)
                    : (0, "is missing, but the global log holds versions \(fix.versions.map { "\($0.lowerBound)–\($0.upperBound)" } ?? "")", "rebuilding it from the global log")
            }
            guard repair else {
                for (offset, problem, remedy) in fixes {
                    report.findings.append(Finding(path: path, aggregate: key, offset: offset, kind: .repairable(problem: problem, remedy: remedy)))
                }
                return
            }
            let written = try Self.writeRepair(plan, over: bytes, log: name, in: folder, descriptor: descriptor >= 0 ? descriptor : nil)
            for (offset, problem, remedy) in fixes {
                report.findings.append(Finding(path: path, aggregate: key, offset: offset, kind: .restored(problem: problem, remedy: remedy, keptIn: written.keptAside)))
            }
        }
    }

    /// Why `record` of `key`'s log disagrees with the chain the global log holds at its position,
    /// or `nil` if it agrees byte for byte.
    private static func disagreement(_ record: AggregateLogSurvey.Record, of key: AggregateKey, in bytes: [UInt8], with global: CheckedGlobalLog) -> String? {
        let position = record.header.position
        // Retention dropped the global log's copy: nothing to compare with.
        guard position >= global.first else { return nil }
        guard let chain = global.chain(at: position) else {
            return "its position \(position) lies beyond the global log, which ends at position \(global.last)"
        }
        guard chain.key == key else {
            return "global position \(position) holds a chain of aggregate \(chain.key)"
        }
        guard chain.firstVersion == record.header.firstVersion, chain.lastVersion == record.header.lastVersion else {
            return "global position \(position) holds versions \(chain.firstVersion)–\(chain.lastVersion), the record versions \(record.header.firstVersion)–\(record.header.lastVersion)"
        }
        var expected: [UInt8] = []
        chain.appendAggregateRecord(to: &expected)
        guard expected[...] == bytes[record.offset..<record.end] else {
            return chain.events[...] == bytes[record.payload]
                ? "its header differs from global position \(position)'s (its time)"
                : "its events differ from those of global position \(position)"
        }
        return nil
    }

    /// Writes `plan` with plain system calls, creating the model's directory if it is missing.
    private static func writeRepair(_ plan: LogRepair, over bytes: [UInt8], log name: String, in folder: String, descriptor: Int32?) throws -> LogRepairWriter.Written {
        try DataDirectory.makeDirectory(folder)
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw StorageError.io(operation: "open", path: folder, errno: errno) }
        defer { close(directory) }
        let writer = LogRepairWriter(systemCalls: .posix) { descriptor, path, full in
            guard (full ? fsync(descriptor) : fdatasync(descriptor)) == 0 else {
                throw StorageError.syncFailed(path: path, errno: errno)
            }
        }
        return try writer.write(plan, over: bytes, log: name, in: directory, at: folder, descriptor: descriptor)
    }
}
