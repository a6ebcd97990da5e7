import Foundation
import Glibc
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Synchronization
import Testing

/// Aggregate logs damaged, cut back or lost while the global log still holds their chains are
/// repaired from it, at start or at load; damage no intact copy covers makes only that aggregate
/// corrupt. After each restart: every acknowledged chain is there, and the global stream never
/// holds two different events at one version.
@Suite struct RepairTests {
    let directory = TemporaryDirectory("repair")

    /// Where damage is made, and whether the start or the first load finds it.
    enum Damage: String, CaseIterable, Sendable {
        /// A byte of the record's length field; found when the aggregate is loaded.
        case headerAtLoad
        /// A byte of the record's events; found when the aggregate is loaded.
        case payloadAtLoad
        /// A byte of the record's events, with the checkpoint before the chains: found at start.
        case payloadAtStart
    }

    /// Counter `c9` at version 4 in three records (versions 1, 2, 3–4), and a bystander `b1`.
    /// Returns `c9`'s log and where its records start.
    func writeCounter() async throws -> (bytes: [UInt8], starts: [Int]) {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("b1"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("b1"), commands: [.increment])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.increment])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.increment, .increment])
        await engine.shutdown()
        let bytes = try contents(of: logPath(directory, "counter", "c9"))
        var starts: [Int] = []
        _ = bytes.withUnsafeBytes { LogScan($0) { starts.append($0.offset) } }
        return (bytes, starts)
    }

    /// Makes recovery at the next start reconcile every chain (the checkpoint before them all).
    func resetCheckpoint() throws {
        try write([UInt8](repeating: 0, count: 12), to: directory.file("data/global.checkpoint"))
    }

    /// Checks what a restart serves: `c9` complete at version 4, and a new command continues it
    /// at version 5 without a second event at any version.
    func expectComplete(_ engine: Engine, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let snapshot = try await engine.snapshot(Counter.self, id: id("c9"))
        #expect(snapshot.version == 4 && snapshot.state == Counter.State(count: 3), sourceLocation: sourceLocation)
        await #expect(sourceLocation: sourceLocation) {
            try await engine.execute(Counter.self, id: id("c9"), commands: [.create])
        } throws: { "\($0)" == "already created" }
        #expect(try await engine.execute(Counter.self, id: id("c9"), commands: [.increment]).version == 5, sourceLocation: sourceLocation)
        let versions = try await globalVersions(engine)
        #expect(versions[AggregateKey(model: "counter", id: id("c9"))] == 5, sourceLocation: sourceLocation)
        #expect(versions[AggregateKey(model: "counter", id: id("b1"))] == 2, sourceLocation: sourceLocation)
    }

    /// A flipped byte in any record of an aggregate log, the last one included, is rewritten
    /// from the global log, its bytes kept aside.
    @Test(arguments: [0, 1, 2], Damage.allCases)
    func aFlippedByteInAnyRecordIsRepairedFromTheGlobalLog(record: Int, damage: Damage) async throws {
        let log = try await writeCounter()
        let path = logPath(directory, "counter", "c9")
        var damaged = log.bytes
        damaged[log.starts[record] + (damage == .headerAtLoad ? 1 : LogRecord.headerSize + 3)] ^= 0x20
        try write(damaged, to: path)
        if damage == .payloadAtStart {
            try resetCheckpoint()
        }
        var engine = try await Engine.start(in: directory)
        try await expectComplete(engine)
        await engine.shutdown()
        #expect(try contents(of: path).prefix(log.bytes.count) == log.bytes[...], "rewritten with the original bytes")
        let kept = directory.allFiles().filter { $0.hasPrefix("data/aggregates/counter/c9.log.") }
        let expected = record == 2 ? "torn-\(log.starts[2])" : "damaged-\(log.starts[record])"
        #expect(kept == ["data/aggregates/counter/c9.log.\(expected)"], "the damaged bytes are kept aside")
        engine = try await Engine.start(in: directory)
        #expect(try await engine.snapshot(Counter.self, id: id("c9")).version == 5)
        await engine.shutdown()
    }

    /// A deleted or emptied aggregate log is rebuilt from the global log, at start if its chains
    /// lie past the checkpoint, else when it is loaded; never restarted at version 0.
    @Test(arguments: [false, true], [false, true])
    func aDeletedOrEmptiedLogIsRebuilt(deleted: Bool, pastCheckpoint: Bool) async throws {
        let log = try await writeCounter()
        let path = logPath(directory, "counter", "c9")
        if deleted {
            try FileManager.default.removeItem(atPath: path)
        } else {
            try write([], to: path)
        }
        if pastCheckpoint {
            try resetCheckpoint()
        }
        let engine = try await Engine.start(in: directory)
        try await expectComplete(engine)
        await engine.shutdown()
        #expect(try contents(of: path).prefix(log.bytes.count) == log.bytes[...])
    }

    /// Damage whose chains the global log no longer holds (its tail was lost with them) is corrupt
    /// for that aggregate alone: the engine starts, serves the others, and leaves the log as it is.
    @Test(arguments: [1, 2])
    func damageNoIntactCopyCoversMakesOnlyThatAggregateCorrupt(record: Int) async throws {
        let log = try await writeCounter()
        // c9's chains from `record` on are the global log's last ones: cut them off with it.
        let global = directory.file("data/global/00000000000000000001.log")
        let globalBytes = try contents(of: global)
        var keep = 0
        _ = globalBytes.withUnsafeBytes { buffer in
            LogScan(buffer, sequencing: .positions, layout: .preallocated) { entry in
                if entry.header.position <= UInt64(2 + record) { keep = entry.payload.upperBound }
            }
        }
        try write(Array(globalBytes[..<keep]), to: global)
        try resetCheckpoint()
        let path = logPath(directory, "counter", "c9")
        var damaged = log.bytes
        damaged[log.starts[record] + LogRecord.headerSize + 3] ^= 0x20
        try write(damaged, to: path)

        let engine = try await Engine.start(in: directory)
        for _ in 0..<2 {
            await #expect {
                try await engine.execute(Counter.self, id: id("c9"), commands: [.increment])
            } throws: { error in
                guard case EngineError.corrupt(let message) = error else { return false }
                return message.contains("\(path) is corrupt at byte \(log.starts[record])") && message.contains("no intact copy holds")
            }
        }
        #expect(try await engine.execute(Counter.self, id: id("b1"), commands: [.increment]).version == 3)
        await engine.shutdown()
        #expect(try contents(of: path) == damaged, "a log no copy can repair is never rewritten")
    }

    /// Through the storage seam: the disk stores one aggregate write with a byte flipped (the
    /// page cache holds it right, so the running engine does not notice); the restart repairs it.
    @Test func aRecordTheDiskStoredWrongIsRepairedAfterARestart() async throws {
        let flipped = Flipper(file: "c9.log", write: 2)
        var engine = try await Engine.start(
            Engine.Configuration(dataDirectory: directory.file("data"), ioThreads: 2, systemCalls: flipped.systemCalls)
        )
        _ = try await engine.execute(Counter.self, id: id("b1"), commands: [.create, .increment])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.increment])
        _ = try await engine.execute(Counter.self, id: id("c9"), commands: [.increment, .increment])
        await engine.shutdown()
        let stored = flipped.done.load(ordering: .relaxed)
        #expect(stored, "the second write of c9.log was stored wrong")
        engine = try await Engine.start(in: directory)
        try await expectComplete(engine)
        await engine.shutdown()
    }
}

/// System calls that store the `write`-th write to the file named `file` with one byte flipped.
final class Flipper: Sendable {
    let file: String
    let done = Atomic<Bool>(false)
    private let writes = Atomic<Int>(0)
    private let write: Int

    init(file: String, write: Int) {
        self.file = file
        self.write = write
    }

    var systemCalls: SystemCalls {
        var calls = SystemCalls.posix
        calls.pwrite = { descriptor, bytes, count, offset in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)"))?.hasSuffix("/" + self.file) ?? false
            guard target, self.writes.add(1, ordering: .relaxed).newValue == self.write else {
                return Glibc.pwrite(descriptor, bytes, count, offset)
            }
            var stored = Array(UnsafeRawBufferPointer(start: bytes, count: count))
            stored[count / 2] ^= 0x20
            self.done.store(true, ordering: .relaxed)
            return Glibc.pwrite(descriptor, stored, count, offset)
        }
        return calls
    }
}

/// Reads the whole global stream, checking that it is gapless and that each aggregate's versions
/// run 1, 2, 3, ... with no version twice; returns each aggregate's last version.
func globalVersions(_ engine: Engine, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [AggregateKey: UInt64] {
    let last = engine.statistics.position
    let subscription = try engine.subscribe(after: 0)
    defer { subscription.cancel() }
    var versions: [AggregateKey: UInt64] = [:]
    var position: UInt64 = 0
    while position < last, let chain = try await subscription.next() {
        #expect(chain.position == position + 1, "gap at \(position)", sourceLocation: sourceLocation)
        #expect(chain.firstVersion == versions[chain.key, default: 0] + 1, "\(chain.key) at position \(chain.position): version \(chain.firstVersion) again or out of order", sourceLocation: sourceLocation)
        versions[chain.key] = chain.lastVersion
        position = chain.position
    }
    return versions
}
