import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

/// Exactly-once commands: a repeat of an accepted `command_id` gets the original outcome, live,
/// after eviction, after a restart (from the log and from a snapshot); another body under the
/// same id is refused; rejections are not remembered; the window is bounded.
@Suite struct CommandIDTests {
    let directory = TemporaryDirectory("command-ids")
    let c1 = id("c1")

    /// Sends `create` (id "a") and `increment, increment` (id "b") to c1.
    func writeCounter(_ engine: Engine) async throws -> (Commit<Counter>, Commit<Counter>) {
        let created = try await engine.execute(Counter.self, id: c1, commands: [.create], commandID: "a")
        let chain = try await engine.execute(Counter.self, id: c1, commands: [.increment, .increment], commandID: "b")
        return (created, chain)
    }

    /// Checks that repeating "a" and "b" returns their outcomes and changes nothing.
    func expectDuplicates(_ engine: Engine, of original: (Commit<Counter>, Commit<Counter>), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (commands, commandID, first) in [([Counter.Command.create], "a", original.0), ([.increment, .increment], "b", original.1)] {
            let again = try await engine.execute(Counter.self, id: c1, commands: commands, commandID: commandID)
            #expect(again.duplicate, sourceLocation: sourceLocation)
            #expect(again.version == first.version && again.position == first.position && again.events == first.events, sourceLocation: sourceLocation)
            #expect(again.encodedEvents == first.encodedEvents, sourceLocation: sourceLocation)
            #expect(again.state == Counter.State(count: 2), "the state now", sourceLocation: sourceLocation)
        }
        #expect(try await engine.snapshot(Counter.self, id: c1).version == 3, "nothing decided again", sourceLocation: sourceLocation)
    }

    @Test func aRepeatOnALiveAggregateGetsTheOriginalOutcome() async throws {
        let engine = try await Engine.start(in: directory)
        let original = try await writeCounter(engine)
        #expect(!original.0.duplicate && original.1.events == [.incremented(count: 1), .incremented(count: 2)])
        try await expectDuplicates(engine, of: original)
        await engine.shutdown()
    }

    @Test func aRepeatAfterEvictionGetsTheOriginalOutcome() async throws {
        let engine = try await Engine.start(in: directory, maximumAggregates: 1, snapshotInterval: 0)
        let original = try await writeCounter(engine)
        _ = try await engine.execute(Counter.self, id: id("other"), commands: [.create])
        #expect(engine.statistics.evictions >= 1)
        try await expectDuplicates(engine, of: original)
        await engine.shutdown()
    }

    /// From the log's records alone, and from a snapshot that holds the window (the records
    /// after it hold no ids).
    @Test(arguments: [0, 1])
    func aRepeatAfterARestartGetsTheOriginalOutcome(snapshotInterval: Int) async throws {
        var engine = try await Engine.start(in: directory, snapshotInterval: snapshotInterval)
        let original = try await writeCounter(engine)
        await engine.shutdown()
        engine = try await Engine.start(in: directory, snapshotInterval: snapshotInterval)
        try await expectDuplicates(engine, of: original)
        if snapshotInterval == 1 {
            let snapshot = try SnapshotFile(decoding: try contents(of: directory.file("data/snapshots/counter/c1.log.snap")))
            #expect(snapshot.version == 3 && !snapshot.commands.isEmpty, "the window comes from the snapshot")
        }
        await engine.shutdown()
    }

    /// When retention dropped the original's chain from the global log, its events come from
    /// the aggregate's own log.
    @Test func aRepeatWhoseGlobalCopyWasDroppedReadsTheAggregateLog() async throws {
        var engine = try await Engine.start(in: directory, segmentSize: 4096, retention: 2 * 4096)
        let original = try await writeCounter(engine)
        for round in 0..<11 {
            for index in 0..<20 {
                _ = try await engine.execute(Counter.self, id: id("f\(index)"), commands: [round == 0 ? .create : .increment])
            }
        }
        try await waitUntil {
            !directory.allFiles().contains("data/global/00000000000000000001.log")
        }
        await engine.shutdown()
        engine = try await Engine.start(in: directory, segmentSize: 4096, retention: 2 * 4096)
        try await expectDuplicates(engine, of: original)
        await engine.shutdown()
    }

    @Test func anotherBodyUnderTheSameIDIsRefused() async throws {
        let engine = try await Engine.start(in: directory)
        _ = try await writeCounter(engine)
        await #expect(throws: EngineError.self) {
            try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "b")
        }
        do {
            _ = try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "b")
        } catch {
            guard case .commandIDReused(let message) = error else { throw error }
            #expect(message == "command id \"b\" was accepted before for other commands (versions 2–3); give a new command a new id")
        }
        #expect(try await engine.snapshot(Counter.self, id: c1).version == 3)
        // Ids are per aggregate: the same id on another aggregate is a new command.
        #expect(try await engine.execute(Counter.self, id: id("c2"), commands: [.create], commandID: "b").version == 1)
        await engine.shutdown()
    }

    /// A rejected command is not remembered: its retry decides again.
    @Test func aRejectedCommandIsDecidedAgainOnRetry() async throws {
        let engine = try await Engine.start(in: directory)
        await #expect(throws: EngineError.self) {
            try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "r")
        }
        _ = try await engine.execute(Counter.self, id: c1, commands: [.create])
        let retried = try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "r")
        #expect(!retried.duplicate && retried.version == 2)
        await engine.shutdown()
    }

    /// Beyond the window (the documented behaviour): an id older than the last `commandWindow`
    /// ids with commands is forgotten, and a repeat is decided again.
    @Test func anIDBeyondTheWindowIsDecidedAgain() async throws {
        let engine = try await Engine.start(in: directory, commandWindow: 4)
        _ = try await engine.execute(Counter.self, id: c1, commands: [.create], commandID: "0")
        for index in 1...4 {
            _ = try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "\(index)")
        }
        #expect(try await engine.execute(Counter.self, id: c1, commands: [.increment], commandID: "1").duplicate, "still in the window")
        // Decided again: the counter exists, so `create` is rejected instead of answered.
        await #expect {
            try await engine.execute(Counter.self, id: c1, commands: [.create], commandID: "0")
        } throws: { "\($0)" == "already created" }
        await engine.shutdown()
    }
}
