import SourcedCore
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

    @Test func truncationAtEveryOffsetOfTheLastRecordRecoversTheCompleteRecords() async throws {
        let log = try await writeCounter("c1")
        let path = logPath(directory, "counter", "c1")
        for cut in log.lastRecord..<log.bytes.count {
            try write(Array(log.bytes[..<cut]), to: path)
            let engine = try await Engine.start(in: directory)
            let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
            #expect(snapshot.version == 3 && snapshot.state == Counter.State(count: 2), "cut at \(cut)")
            let commit = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
            #expect(commit.version == 4 && commit.state == Counter.State(count: 3), "cut at \(cut)")
            await engine.shutdown()
            #expect(Array(try contents(of: path).prefix(log.lastRecord)) == Array(log.bytes.prefix(log.lastRecord)))
            #expect(try records(Counter.self, at: path).flatMap(\.events) == [.created] + (1...3).map { .incremented(count: $0) })
        }
    }

    @Test func aFlippedByteInAnEarlierRecordMakesOnlyThatAggregateCorrupt() async throws {
        let log = try await writeCounter("broken")
        _ = try await writeCounter("healthy")
        let path = logPath(directory, "counter", "broken")
        var damaged = log.bytes
        damaged[log.lastRecord / 2] ^= 0x20
        try write(damaged, to: path)

        let engine = try await Engine.start(in: directory)
        for _ in 0..<2 {
            await #expect {
                try await engine.execute(Counter.self, id: id("broken"), commands: [.increment])
            } throws: { error in
                guard case EngineError.corrupt(let message) = error else { return false }
                return message.contains(path)
            }
        }
        let healthy = try await engine.execute(Counter.self, id: id("healthy"), commands: [.increment])
        #expect(healthy.version == 5)
        await engine.shutdown()
        #expect(try contents(of: path) == damaged, "a corrupt log is never rewritten")
    }
}
