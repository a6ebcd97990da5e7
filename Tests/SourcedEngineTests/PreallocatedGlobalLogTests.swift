import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

/// The engine over a global log kept zero-filled ahead of its records (`GlobalLogSpace`).
@Suite struct PreallocatedGlobalLogTests {
    let directory = TemporaryDirectory("prealloc")

    /// After a restart the engine continues at the records' end, not the file's, and a
    /// subscription reads every chain from the start without running into the zeros.
    @Test func aRestartContinuesAtTheLogicalEndAndSubscribersReadOnlyRecords() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        for _ in 0..<2 {
            _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        }
        await engine.shutdown()
        let global = try contents(of: directory.file("data/global/00000000000000000001.log"))
        let scan = global.withUnsafeBytes { LogScan($0, sequencing: .positions, layout: .preallocated) }
        #expect(scan.tail == .clean && scan.recordCount == 3)
        #expect(global.count == 1 << 20 && scan.validLength < global.count, "records, then zeros")

        engine = try await Engine.start(in: directory)
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).position == 4)
        let subscription = try engine.subscribe(after: 0)
        var positions: [UInt64] = []
        while positions.count < 4, let chain = try await subscription.next() {
            positions.append(chain.position)
        }
        subscription.cancel()
        #expect(positions == [1, 2, 3, 4])
        await engine.shutdown()
        #expect(try contents(of: directory.file("data/global/00000000000000000001.log")).count == 1 << 20)
    }
}
