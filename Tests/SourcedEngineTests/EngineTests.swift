import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

@Suite struct EngineTests {
    let directory = TemporaryDirectory("engine")

    @Test func concurrentIncrementsOnOneCounterAreSerializedAndGroupCommitted() async throws {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<1000 {
                group.addTask { _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]) }
            }
            try await group.waitForAll()
        }
        let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(snapshot.version == 1001 && snapshot.state == Counter.State(count: 1000))
        let statistics = engine.statistics
        await engine.shutdown()

        let logged = try records(Counter.self, at: logPath(directory, "counter", "c1"))
        let events = logged.flatMap(\.events)
        #expect(events.count == 1001)
        #expect(events == [.created] + (1...1000).map { .incremented(count: $0) })
        #expect(logged.map(\.version) == (1...1001).map { UInt64($0) }, "one record per command")
        #expect(statistics.commands == 1001)
        #expect(statistics.syncs < 1001, "group commit: \(statistics.syncs) syncs for 1001 commands")
    }

    @Test func stateSurvivesARestart() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Account.self, id: id("a1"), commands: [.open(owner: "ada"), .deposit(amount: 70)])
        _ = try await engine.execute(Account.self, id: id("a1"), commands: [.withdraw(amount: 20)])
        await engine.shutdown()
        engine = try await Engine.start(in: directory)
        let snapshot = try await engine.snapshot(Account.self, id: id("a1"))
        #expect(snapshot.version == 3 && snapshot.state == Account.State(owner: "ada", balance: 50, closed: false))
        await engine.shutdown()
    }

    @Test func aChainIsOneRecordAndARejectedChainWritesNothing() async throws {
        let engine = try await Engine.start(in: directory)
        let commit = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment, .increment])
        #expect(commit.version == 3 && commit.firstVersion == 1 && commit.state == Counter.State(count: 2))
        let path = logPath(directory, "counter", "c1")
        let before = try contents(of: path)
        await #expect(throws: EngineError.rejected(Rejection("already created"))) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment, .create])
        }
        #expect(try contents(of: path) == before)
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).version == 3)
        await engine.shutdown()
        #expect(try records(Counter.self, at: path).map(\.events.count) == [3])
    }

    @Test func aRejectedWithdrawalLeavesTheLogByteIdentical() async throws {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Account.self, id: id("a1"), commands: [.open(owner: "ada"), .deposit(amount: 10)])
        let path = logPath(directory, "account", "a1")
        let before = try contents(of: path)
        await #expect(throws: EngineError.rejected(Rejection("insufficient funds: balance 10, requested 11"))) {
            try await engine.execute(Account.self, id: id("a1"), commands: [.withdraw(amount: 11)])
        }
        #expect(try contents(of: path) == before)
        #expect(try await engine.snapshot(Account.self, id: id("a1")).state?.balance == 10)
        await engine.shutdown()
    }

    @Test func rejectingANeverCreatedAggregateCreatesNoFile() async throws {
        let engine = try await Engine.start(in: directory)
        await #expect(throws: EngineError.rejected(Rejection("not created"))) {
            try await engine.execute(Counter.self, id: id("ghost"), commands: [.increment])
        }
        let snapshot = try await engine.snapshot(Counter.self, id: id("ghost"))
        #expect(snapshot.version == 0 && snapshot.state == nil)
        await engine.shutdown()
        #expect(directory.allFiles() == ["data/LOCK", "data/global.checkpoint", "data/global/00000000000000000001.log"])
    }

    @Test func expectedVersionIsChecked() async throws {
        let engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create], expecting: 0)
        await #expect(throws: EngineError.wrongVersion(expected: 5, actual: 1)) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment], expecting: 5)
        }
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment], expecting: 1).version == 2)
        await engine.shutdown()
    }

    @Test func anEmptyChainIsRefused() async throws {
        let engine = try await Engine.start(in: directory)
        await #expect(throws: EngineError.emptyChain) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [])
        }
        await engine.shutdown()
    }

    @Test func aSecondEngineOnTheSameDirectoryFailsClearly() async throws {
        let engine = try await Engine.start(in: directory)
        await #expect {
            try await Engine.start(in: directory)
        } throws: { error in
            guard case StorageError.locked(let path, let owner) = error else { return false }
            return path == directory.file("data") && owner.hasPrefix("pid ")
                && "\(error)".contains("in use by another sourced")
        }
        await engine.shutdown()
        let reopened = try await Engine.start(in: directory)
        await reopened.shutdown()
    }

    @Test func hostileIdsStayInsideTheDataDirectory() async throws {
        let engine = try await Engine.start(in: directory)
        let ids = ["../x", "../../escape", "/", "/etc/passwd", ".", "..", "a/b", "~x", "x.log", "LOCK", "ｃ1", "c1",
                   String(repeating: "é", count: 64), String(repeating: "../", count: 42)]
        for raw in ids {
            let commit = try await engine.execute(Counter.self, id: id(raw), commands: [.create, .increment])
            #expect(commit.version == 2, "\(raw)")
        }
        await engine.shutdown()
        let files = directory.allFiles()
        let dataFiles: Set = ["data/LOCK", "data/global.checkpoint", "data/global/00000000000000000001.log"]
        #expect(files.count == ids.count + dataFiles.count)
        #expect(files.allSatisfy { dataFiles.contains($0) || $0.hasPrefix("data/aggregates/counter/") })
        #expect(Set(files).count == files.count)
        for raw in ids {
            #expect(try records(Counter.self, at: logPath(directory, "counter", raw)).count == 1, "\(raw)")
        }
    }

    @Test func shutdownRefusesNewCommands() async throws {
        let engine = try await Engine.start(in: directory)
        await engine.shutdown()
        await #expect(throws: EngineError.unavailable("sourced is shutting down")) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        }
    }
}

@Suite struct UnicodeIdentityTests {
    let directory = TemporaryDirectory("unicode")

    @Test func canonicallyEquivalentIdsAreSeparateAggregatesAcrossRestarts() async throws {
        var engine = try await Engine.start(in: directory)
        _ = try await engine.execute(Account.self, id: id("caf\u{E9}"), commands: [.open(owner: "a"), .deposit(amount: 100)])
        _ = try await engine.execute(Account.self, id: id("cafe\u{301}"), commands: [.open(owner: "b")])
        await engine.shutdown()
        engine = try await Engine.start(in: directory, maximumAggregates: 1)
        #expect(try await engine.snapshot(Account.self, id: id("cafe\u{301}")).state?.owner == "b")
        #expect(try await engine.snapshot(Account.self, id: id("caf\u{E9}")).state?.balance == 100)
        #expect(try await engine.execute(Account.self, id: id("cafe\u{301}"), commands: [.deposit(amount: 1)]).version == 2)
        await engine.shutdown()
        #expect(try records(Account.self, at: logPath(directory, "account", "caf\u{E9}")).count == 1)
        #expect(try records(Account.self, at: logPath(directory, "account", "cafe\u{301}")).count == 2)
    }
}
