import Benchmark
import Foundation
import Glibc
import Logging
import NIOPosix
import SourcedCore
import SourcedJSON
import SourcedEngine
import SourcedStorage

/// Holds what a benchmark's setup prepares for its closure and teardown (they run in one process,
/// one after the other, never concurrently).
final class Box<Value>: @unchecked Sendable {
    var value: Value?
}

/// Custom metrics, reported as they are (not divided by the scaling factor).
extension BenchmarkMetric {
    static var eventsPerSecond: BenchmarkMetric {
        .custom("events per second", polarity: .prefersLarger, useScalingFactor: false)
    }

    static var engineStartMilliseconds: BenchmarkMetric {
        .custom("engine start (ms)", polarity: .prefersSmaller, useScalingFactor: false)
    }

    static var operationsPerSecond: BenchmarkMetric {
        .custom("operations per second", polarity: .prefersLarger, useScalingFactor: false)
    }

    static var residentBytesPerCounter: BenchmarkMetric {
        .custom("RSS growth per idle counter (bytes)", polarity: .prefersSmaller, useScalingFactor: false)
    }

    static var liveAllocationsPerCounter: BenchmarkMetric {
        .custom("live mallocs per idle counter", polarity: .prefersSmaller, useScalingFactor: false)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

enum Fixtures {
    /// Where benchmark data directories go: `SOURCED_BENCH_DIR`, else `/tmp/sourced-benchmarks`.
    static var baseDirectory: String {
        ProcessInfo.processInfo.environment["SOURCED_BENCH_DIR"] ?? "/tmp/sourced-benchmarks"
    }

    /// A logger that keeps the engine quiet unless something is really wrong.
    static var quietLogger: Logger {
        var logger = Logger(label: "sourced.benchmarks")
        logger.logLevel = .error
        return logger
    }

    /// A new, empty directory for one benchmark's data; remove it with ``remove(_:)``.
    static func freshDirectory(_ name: String) throws -> String {
        let path = "\(baseDirectory)/\(name)-\(getpid())"
        remove(path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func id(_ raw: String) -> AggregateID {
        try! AggregateID(raw)
    }

    /// The payload the engine writes for the counter event with version `version` when every
    /// command is its own chain: `created` first, then `incremented` with the new count. Built
    /// directly instead of with the engine's `JSONStreamEncoder` so a million records take a
    /// second; ``verifyEncodingMatchesEngine()`` checks that the bytes are the engine's.
    static func counterPayload(version: UInt64) -> [UInt8] {
        version == 1
            ? Array(#"[{"type":"created"}]"#.utf8)
            : Array(#"[{"type":"incremented","count":\#(version - 1)}]"#.utf8)
    }

    /// The engine's own encoding of a chain's events (`EventPayload.encode`, which is internal).
    static func enginePayload(_ events: [Counter.Event]) throws -> [UInt8] {
        try JSONStreamEncoder().encode(events.map { TaggedCoding($0) })
    }

    static var nowMicroseconds: Int64 {
        Int64(Date().timeIntervalSince1970 * 1_000_000)
    }

    // MARK: - Writing data directories with the storage API

    /// Writes counters straight into a data directory the way the engine would have written them,
    /// one command (one event) per chain: each event gets a record in the counter's log and one
    /// in the global log with the same global position, and `global.checkpoint` covers them all, so
    /// an engine started on the directory has nothing to recover.
    final class DirectWriter {
        let store: AggregateStore
        private let pool: NIOThreadPool
        private(set) var position: UInt64 = 0

        init(directory: String) async throws {
            pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            store = try await AggregateStore.open(
                path: directory,
                models: ModelCatalog.builtIn.models.map { $0.name },
                configuration: .init(sync: .none),
                pool: pool,
                logger: Fixtures.quietLogger,
                onFatal: { _ in }
            )
        }

        /// Appends a new counter with `events` events (versions 1 ... events).
        func writeCounter(_ id: AggregateID, events: UInt64, chunk: UInt64 = 32_768) async throws {
            let key = AggregateKey(model: Counter.name, id: id)
            var version: UInt64 = 1
            var length = 0
            let timestamp = Fixtures.nowMicroseconds
            while version <= events {
                let last = min(version + chunk - 1, events)
                var aggregateRecords: [UInt8] = []
                var globalRecords: [UInt8] = []
                aggregateRecords.reserveCapacity(Int(last - version + 1) * 80)
                globalRecords.reserveCapacity(Int(last - version + 1) * 96)
                for v in version...last {
                    position += 1
                    let payload = Fixtures.counterPayload(version: v)
                    LogRecord.append(
                        LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: v, position: position, timestamp: timestamp),
                        payload: payload,
                        to: &aggregateRecords
                    )
                    let global = GlobalPayload.encode(key, events: payload)
                    LogRecord.append(
                        LogRecordHeader(payloadLength: global.count, eventCount: 1, firstVersion: v, position: position, timestamp: timestamp),
                        payload: global,
                        to: &globalRecords
                    )
                }
                // As the commit threads do: hold the aggregate log open, write the global records
                // (the commit point), then the aggregate records.
                // On the I/O pool: these calls block.
                let appends = [AggregateStore.AggregateAppend(key: key, records: aggregateRecords, offset: length)]
                let (store, first, records) = (store, position - (last - version), globalRecords)
                try await pool.runIfActive {
                    let logs = try store.holdLogs(for: appends)
                    do {
                        try store.commitGlobal(records, first: first)
                    } catch {
                        store.release(logs)
                        throw error
                    }
                    if let failure = store.appendAggregates(appends, into: logs).failure { throw failure }
                }
                length += aggregateRecords.count
                version = last + 1
            }
        }

        /// Records the checkpoint and releases the directory.
        func finish() async throws {
            try await store.writeCheckpoint(position)
            store.directory.close()
            try await pool.shutdownGracefully()
        }
    }

    /// A data directory holding one counter per entry of `counters` (id, number of events).
    static func writeDirectory(_ name: String, counters: [(AggregateID, UInt64)]) async throws -> String {
        let directory = try freshDirectory(name)
        let writer = try await DirectWriter(directory: directory)
        for (id, events) in counters {
            try await writer.writeCounter(id, events: events)
        }
        try await writer.finish()
        return directory
    }

    // MARK: - Checking the direct writer against the engine

    private struct Recorded {
        var header: LogRecordHeader
        var payload: [UInt8]
    }

    private static func records(in path: String, sequencing: LogScan.Sequencing) throws -> [Recorded] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var found: [Recorded] = []
        let scan = bytes.withUnsafeBytes { buffer in
            LogScan(buffer, sequencing: sequencing, layout: sequencing == .positions ? .preallocated : .appendOnly) { entry in
                found.append(Recorded(header: entry.header, payload: Array(buffer[entry.payload])))
            }
        }
        guard scan.tail == .clean else { throw BenchmarkFailure("\(path) does not verify: \(scan.tail)") }
        return found
    }

    /// Runs a few commands through a real engine and checks that ``DirectWriter`` writes the very
    /// same records (apart from timestamps and checksums), so the prepared data directories are
    /// what the engine itself would have left.
    static func verifyEncodingMatchesEngine() async throws {
        let directory = try freshDirectory("probe")
        defer { remove(directory) }
        let engine = try await Engine.start(.init(dataDirectory: directory, sync: .none), logger: quietLogger)
        let probe = id("probe")
        _ = try await engine.execute(Counter.self, id: probe, commands: [.create])
        for _ in 0..<11 {
            _ = try await engine.execute(Counter.self, id: probe, commands: [.increment])
        }
        await engine.shutdown()
        let key = AggregateKey(model: Counter.name, id: probe)
        let local = try records(in: "\(directory)/aggregates/counter/probe.log", sequencing: .versions)
        let global = try records(in: "\(directory)/global/\(GlobalSegment.fileName(first: 1))", sequencing: .positions)
        guard local.count == 12, global.count == 12 else {
            throw BenchmarkFailure("probe: expected 12 records, found \(local.count) and \(global.count)")
        }
        for (index, (record, globalRecord)) in zip(local, global).enumerated() {
            let version = UInt64(index + 1)
            let expected = counterPayload(version: version)
            let events: [Counter.Event] = version == 1 ? [.created] : [.incremented(count: Int(version - 1))]
            guard record.payload == expected, try enginePayload(events) == expected,
                  record.header.firstVersion == version, record.header.eventCount == 1, record.header.position == version,
                  globalRecord.payload == GlobalPayload.encode(key, events: expected),
                  globalRecord.header.firstVersion == version, globalRecord.header.position == version
            else {
                throw BenchmarkFailure(
                    "probe: the engine wrote \(String(decoding: record.payload, as: UTF8.self)) at version \(version), expected \(String(decoding: expected, as: UTF8.self))"
                )
            }
        }
    }

    // MARK: - Process memory

    /// The resident set size of this process, in bytes (`VmRSS` of `/proc/self/status`).
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }

    /// Hands freed heap memory back to the kernel, so RSS shows what is live.
    static func trimHeap() {
        // malloc_trim(3) is not in the Glibc module; look it up.
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
