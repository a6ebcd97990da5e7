import SourcedCore
import SourcedStorage
import SourcedEngine
import SourcedTestSupport
import Testing

@Suite struct RecoveryTests {
    let directory = TemporaryDirectory("recovery")

    /// Writes a counter at version 4 (create, then three increments, one record each) and returns
    /// its log's bytes and the offset of its last record.
    func writeCounter(_ raw: String) async throws -> (bytes: [UInt8], lastRecord: Int) {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id(raw), commands: [.create])
        for _ in 0..<2 {
            _ = try await engine.execute(Counter.self, id: id(raw), commands: [.increment])
        }
        let path = logPath(directory, "counter", raw)
        let lastRecord = try contents(of: path).count
        _ = try await engine.execute(Counter.self, id: id(raw), commands: [.increment])
        await engine.shutdown()
        return (try contents(of: path), lastRecord)
    }

    /// A write of the last record cut at any byte (what a crash leaves) is completed from the
    /// global log, which made the chain durable before its aggregate record was written.
    @Test func aLastRecordCutAtAnyOffsetIsCompletedFromTheGlobalLog() async throws {
        let log = try await writeCounter("c1")
        let path = logPath(directory, "counter", "c1")
        for cut in log.lastRecord..<log.bytes.count {
            try write(Array(log.bytes[..<cut]), to: path)
            let engine = try await Engine.start(in: directory)
            let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
            #expect(snapshot.version == 4 && snapshot.state == Counter.State(count: 3), "cut at \(cut)")
            await engine.shutdown()
            #expect(try contents(of: path) == log.bytes, "cut at \(cut)")
        }
        #expect(directory.allFiles().filter { $0.contains("c1.log.") }.isEmpty, "a torn write holds nothing to keep aside")
    }
}

@Suite struct GlobalRecoveryTests {
    let directory = TemporaryDirectory("global")

    /// A crash after a chain reached the global log but before its aggregate log: the next start
    /// re-appends it from the global log.
    @Test func chainsMissingFromAnAggregateLogAreReappendedFromTheGlobalLog() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        let first = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment, .increment])
        await engine.shutdown()
        let path = logPath(directory, "counter", "c1")
        let complete = try contents(of: path)
        let kept = try records(Counter.self, at: path).prefix(2)
        #expect(kept.map(\.version) == [1, 2] && first.position == 2)
        let cut = complete.withUnsafeBytes { buffer in
            var length = 0
            _ = LogScan(buffer) { entry in if entry.header.firstVersion <= 2 { length = entry.payload.upperBound } }
            return length
        }
        try write(Array(complete[..<cut]), to: path)
        try write([UInt8](repeating: 0, count: 12), to: directory.file("data/global.checkpoint"))

        engine = try await Engine.start(in: directory)
        let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(snapshot.version == 4 && snapshot.state == Counter.State(count: 3))
        let next = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        #expect(next.version == 5 && next.position == 4)
        await engine.shutdown()
        #expect(try contents(of: path).prefix(complete.count) == complete[...], "the re-appended records are the original bytes")
    }

    /// A power cut with sync `always` can leave an aggregate log damaged where writes past the
    /// checkpoint were not yet synced: the next start cuts the damage off and rewrites those chains
    /// from the global log.
    @Test func aggregateLogDamagePastTheCheckpointIsRewrittenFromTheGlobalLog() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment, .increment])
        await engine.shutdown()
        let path = logPath(directory, "counter", "c1")
        let complete = try contents(of: path)
        var damaged = complete
        let secondRecord = complete.withUnsafeBytes { buffer in
            var start = 0
            _ = LogScan(buffer) { entry in if entry.header.firstVersion == 2 { start = entry.offset } }
            return start
        }
        damaged[secondRecord + LogRecord.headerSize + 1] ^= 0xFF
        try write(damaged, to: path)
        var checkpoint = withUnsafeBytes(of: UInt64(1).littleEndian) { Array($0) }
        withUnsafeBytes(of: CRC32C.checksum(checkpoint).littleEndian) { checkpoint.append(contentsOf: $0) }
        try write(checkpoint, to: directory.file("data/global.checkpoint"))

        engine = try await Engine.start(in: directory)
        let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(snapshot.version == 4 && snapshot.state == Counter.State(count: 3))
        await engine.shutdown()
        #expect(try contents(of: path) == complete, "the damaged records are rewritten with their original bytes")
    }

    @Test func aTornGlobalTailIsCutOffAndPositionsContinue() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        await engine.shutdown()
        let global = directory.file("data/global/00000000000000000001.log")
        try write(try contents(of: global) + [1, 2, 3, 4, 5], to: global)
        engine = try await Engine.start(in: directory)
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).position == 2)
        await engine.shutdown()
    }

    /// A lost or rolled-back global log is refused at start, never silently restarted at position 1.
    @Test func aGlobalLogBehindItsCheckpointOrItsAggregatesIsRefused() async throws {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        await engine.shutdown()
        let global = directory.file("data/global/00000000000000000001.log")
        let complete = try contents(of: global)
        let firstRecord = complete.withUnsafeBytes { buffer -> Int in
            guard case .record(_, let payload) = LogRecord.read(buffer, at: 0) else { return 0 }
            return payload.upperBound
        }
        try write(Array(complete[..<firstRecord]), to: global)
        await #expect {
            try await Engine.start(in: directory)
        } throws: { "\($0)".contains("global.checkpoint records position 2") }

        try write([], to: global)
        try write([UInt8](repeating: 0, count: 12), to: directory.file("data/global.checkpoint"))
        await #expect {
            try await Engine.start(in: directory)
        } throws: { "\($0)".contains("it is empty but aggregate logs exist") }
    }
}
