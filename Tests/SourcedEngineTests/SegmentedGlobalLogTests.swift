import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

/// The engine over a global log of many small segments: subscriptions and handlers read across
/// them in order, and aggregate logs whose chains lie in sealed segments are repaired from them.
@Suite struct SegmentedGlobalLogTests {
    let directory = TemporaryDirectory("segmented")

    /// 40 counters, 10 increments each after create: 440 chains over many 4 KiB segments.
    func writeCounters(_ engine: Engine) async throws {
        for round in 0..<11 {
            for index in 0..<40 {
                _ = try await engine.execute(Counter.self, id: id("c\(index)"), commands: [round == 0 ? .create : .increment])
            }
        }
    }

    @Test func subscribersReadEverySegmentInOrder() async throws {
        var engine = try await Engine.start(in: directory, segmentSize: 4096)
        try await writeCounters(engine)
        await engine.shutdown()
        let segments = directory.allFiles().filter { $0.hasPrefix("data/global/") && $0.hasSuffix(".log") }
        #expect(segments.count > 5, "\(segments)")
        engine = try await Engine.start(in: directory, segmentSize: 4096)
        let versions = try await globalVersions(engine)
        #expect(versions.count == 40 && versions.values.allSatisfy { $0 == 11 })
        // From the middle of a sealed segment on.
        let subscription = try engine.subscribe(after: 123)
        #expect(try await subscription.next()?.position == 124)
        subscription.cancel()
        await engine.shutdown()
    }

    /// Logs deleted while their chains lie in sealed segments, behind the checkpoint, are rebuilt
    /// at load from those segments.
    @Test func aDeletedLogIsRebuiltFromSealedSegments() async throws {
        var engine = try await Engine.start(in: directory, segmentSize: 4096)
        try await writeCounters(engine)
        await engine.shutdown()
        let original = try contents(of: logPath(directory, "counter", "c7"))
        try FileManager.default.removeItem(atPath: logPath(directory, "counter", "c7"))
        engine = try await Engine.start(in: directory, segmentSize: 4096)
        let snapshot = try await engine.snapshot(Counter.self, id: id("c7"))
        #expect(snapshot.version == 11 && snapshot.state == Counter.State(count: 10))
        #expect(try await engine.execute(Counter.self, id: id("c7"), commands: [.increment]).version == 12)
        await engine.shutdown()
        #expect(try contents(of: logPath(directory, "counter", "c7")).prefix(original.count) == original[...])
    }

    /// With retention, segments every aggregate log has passed are deleted after a checkpoint:
    /// subscribers from before get `positionDropped`, from after read on; every aggregate still
    /// loads; a lost log whose copy was dropped is corrupt, not restarted at version 0.
    @Test func retentionDropsPassedSegmentsAndSaysWhatIsGone() async throws {
        var engine = try await Engine.start(in: directory, segmentSize: 4096, retention: 3 * 4096)
        try await writeCounters(engine)
        let segments = { directory.allFiles().filter { $0.hasPrefix("data/global/") && $0.hasSuffix(".log") } }
        try await waitUntil { segments().count <= 4 && !segments().contains("data/global/00000000000000000001.log") }
        // Checkpoints go on, so retention may drop another segment at any time: what is checked is
        // that the earliest position an error names is where a subscription can start.
        var earliest = GlobalSegment.first(ofFileName: String(segments()[0].dropFirst("data/global/".count)))!
        let early = try engine.subscribe(after: 0)
        do {
            _ = try await early.next()
            Issue.record("a subscription from position 0 read a dropped position")
        } catch SubscriptionError.positionDropped(let named) {
            #expect(named >= earliest)
            earliest = named
        }
        var firstRead: UInt64?
        for _ in 0..<10 where firstRead == nil {
            let late = try engine.subscribe(after: earliest - 1)
            do {
                firstRead = try await late.next()?.position
                #expect(firstRead == earliest)
            } catch SubscriptionError.positionDropped(let named) {
                #expect(named > earliest)
                earliest = named
            }
            late.cancel()
        }
        #expect(firstRead != nil)
        await engine.shutdown()

        try FileManager.default.removeItem(atPath: logPath(directory, "counter", "c7"))
        engine = try await Engine.start(in: directory, segmentSize: 4096, retention: 3 * 4096)
        #expect(try await engine.snapshot(Counter.self, id: id("c8")).version == 11)
        await #expect {
            try await engine.snapshot(Counter.self, id: id("c7"))
        } throws: { error in
            guard case EngineError.corrupt = error else { return false }
            return true
        }
        await engine.shutdown()
    }
}
