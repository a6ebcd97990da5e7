import Glibc
import SourcedCore

/// Verifies every log of a data directory offline, the way `redis-check-aof` does, and can cut off
/// torn tails. It never deletes valid data: cut bytes are copied aside first, and corruption is
/// only reported. Blocking: run it on a thread that may block, with no daemon using the directory.
public struct LogChecker {
    /// One finding.
    public struct Finding: Sendable, CustomStringConvertible {
        public enum Kind: Sendable {
            /// An incomplete last write: `bytes` bytes from `offset` on.
            case tornTail(bytes: Int)
            /// Damage with valid data after it, or a record out of sequence.
            case corrupt(reason: String)
            /// A torn tail that `--repair` cut off, its bytes saved in `savedTo`.
            case repaired(bytes: Int, savedTo: String)
        }

        public var path: String
        /// The aggregate the log belongs to, `nil` for the global log.
        public var aggregate: AggregateKey?
        public var offset: Int
        public var kind: Kind

        public var description: String {
            let subject = aggregate.map { "aggregate \($0)" } ?? "global log"
            return switch kind {
            case .tornTail(let bytes):
                "\(path): torn tail of \(bytes) bytes at offset \(offset) (\(subject)); --repair cuts it off"
            case .corrupt(let reason):
                "\(path): corrupt at offset \(offset) (\(subject)): \(reason)"
            case .repaired(let bytes, let savedTo):
                "\(path): cut off a torn tail of \(bytes) bytes at offset \(offset) (\(subject)); the bytes are saved in \(savedTo)"
            }
        }
    }

    /// What a check found, and what it read.
    public struct Report: Sendable {
        public var findings: [Finding] = []
        public var logs = 0
        public var records = 0

        /// Whether every log verified (after repairs, if any were made).
        public var isClean: Bool {
            findings.allSatisfy { if case .repaired = $0.kind { true } else { false } }
        }
    }

    public let directory: DataDirectory

    public init(_ directory: DataDirectory) {
        self.directory = directory
    }

    /// Checks the global log and every aggregate log; with `repair`, cuts off torn tails.
    ///
    /// The zero-filled space after the global log's last record is its clean end (see
    /// ``LogScan/Layout/preallocated``), never a finding; a zero-filled tail of an aggregate log
    /// is a torn tail.
    public func run(repair: Bool) throws -> Report {
        var report = Report()
        try check(directory.globalLogPath, aggregate: nil, .positions, .preallocated, repair: repair, into: &report)
        for model in try Self.entries(of: directory.path + "/aggregates") where !model.hasPrefix(".") {
            let folder = directory.path + "/aggregates/" + model
            for name in try Self.entries(of: folder) where name.hasSuffix(LogFileName.suffix) {
                let key = LogFileName.id(fromFileName: name).map { AggregateKey(model: model, id: $0) }
                try check(folder + "/" + name, aggregate: key, .versions, .appendOnly, repair: repair, into: &report)
            }
        }
        return report
    }

    private func check(
        _ path: String,
        aggregate: AggregateKey?,
        _ sequencing: LogScan.Sequencing,
        _ layout: LogScan.Layout,
        repair: Bool,
        into report: inout Report
    ) throws {
        let descriptor = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "stat", path: path, errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        guard bytes.isEmpty || pread(descriptor, &bytes, bytes.count, 0) == bytes.count else {
            throw StorageError.io(operation: "read", path: path, errno: errno)
        }
        let scan = bytes.withUnsafeBytes { LogScan($0, sequencing: sequencing, layout: layout) }
        report.logs += 1
        report.records += scan.recordCount
        switch scan.tail {
        case .clean:
            return
        case .corrupt(let offset, let reason):
            report.findings.append(Finding(path: path, aggregate: aggregate, offset: offset, kind: .corrupt(reason: reason)))
        case .torn(let offset) where repair:
            let saved = "\(path).torn-\(offset)"
            try Self.save(Array(bytes[offset...]), to: saved)
            guard ftruncate(descriptor, off_t(offset)) == 0, fsync(descriptor) == 0 else {
                throw StorageError.io(operation: "truncate", path: path, errno: errno)
            }
            report.findings.append(Finding(path: path, aggregate: aggregate, offset: offset, kind: .repaired(bytes: bytes.count - offset, savedTo: saved)))
        case .torn(let offset):
            report.findings.append(Finding(path: path, aggregate: aggregate, offset: offset, kind: .tornTail(bytes: bytes.count - offset)))
        }
    }

    private static func save(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: path, errno: errno) }
        defer { close(descriptor) }
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw StorageError.io(operation: "write", path: path, errno: errno)
        }
    }

    private static func entries(of folder: String) throws -> [String] {
        guard let stream = opendir(folder) else { throw StorageError.io(operation: "list", path: folder, errno: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return names.sorted()
    }
}
