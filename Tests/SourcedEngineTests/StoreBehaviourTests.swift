import SourcedCore
import SourcedEngine
import SourcedPostgres
import SourcedStorage
import SourcedTestSupport
import Testing

/// The engine's behaviour, the same on both stores: commands and chains, rejections, `expect`,
/// read-your-writes, command ids, reads, listing, subscriptions, handlers, restarts. The suite
/// runs inside a PostgreSQL cluster of its own; each PostgreSQL case gets a fresh database.
@Suite(.postgresCluster) struct StoreBehaviourTests {
    let directory = TemporaryDirectory("store-behaviour")

    /// The configuration of an engine on `kind`: the same store for every call in one test.
    final class Store: Sendable {
        let configuration: Engine.Configuration

        init(_ kind: StoreKind, directory: TemporaryDirectory, handlers: [any EventHandler] = []) async throws {
            var configuration = Engine.Configuration(dataDirectory: directory.file("data"), ioThreads: 4, threads: 2, handlers: handlers)
            if let database = try await kind.freshDatabase() {
                configuration.postgres = try PostgresConnectionSettings(parsing: database)
            }
            self.configuration = configuration
        }

        func start(handlers: [any EventHandler]? = nil) async throws -> Engine {
            var configuration = configuration
            if let handlers { configuration.handlers = handlers }
            return try await Engine.start(configuration)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func commandsAndChainsCommitAndSurviveARestart(_ kind: StoreKind) async throws {
        let store = try await Store(kind, directory: directory)
        var engine = try await store.start()
        let opened = try await engine.execute(Account.self, id: id("a1"), commands: [.open(owner: "ada"), .deposit(amount: 70)])
        #expect(opened.version == 2 && opened.firstVersion == 1 && opened.position == 1)
        let withdrawn = try await engine.execute(Account.self, id: id("a1"), commands: [.withdraw(amount: 20)])
        #expect(withdrawn.version == 3 && withdrawn.position == 2 && withdrawn.state == Account.State(owner: "ada", balance: 50, closed: false))
        await engine.shutdown()

        engine = try await store.start()
        let snapshot = try await engine.snapshot(Account.self, id: id("a1"))
        #expect(snapshot.version == 3 && snapshot.state == Account.State(owner: "ada", balance: 50, closed: false))
        let next = try await engine.execute(Account.self, id: id("a1"), commands: [.deposit(amount: 1)])
        #expect(next.version == 4 && next.position == 3, "positions go on after a restart")
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func aRejectedChainChangesNothing(_ kind: StoreKind) async throws {
        let engine = try await Store(kind, directory: directory).start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment])
        await #expect(throws: EngineError.rejected(Rejection("already created"))) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment, .create])
        }
        let read = try await engine.events(Counter.self, id: id("c1"), versions: 1..<100)
        #expect(read.events.map(\.event) == [.created, .incremented(count: 1)])
        #expect(read.snapshot.version == 2 && read.snapshot.state == Counter.State(count: 1))
        #expect(engine.statistics.rejections == 1 && engine.statistics.position == 1)
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func expectIsChecked(_ kind: StoreKind) async throws {
        let engine = try await Store(kind, directory: directory).start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create], expecting: 0)
        await #expect(throws: EngineError.wrongVersion(expected: 0, actual: 1)) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment], expecting: 0)
        }
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment], expecting: 1).version == 2)
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func aReadSentAfterACommandSeesIt(_ kind: StoreKind) async throws {
        let engine = try await Store(kind, directory: directory).start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        // Both on the shard's loop in one step: the read is admitted before the command is durable.
        let key = AggregateKey(model: Counter.name, id: id("c1"))
        let shard = engine.shard(for: key)
        let read = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Snapshot<Counter>, any Error>) in
            shard.loop.execute {
                for _ in 0..<10 {
                    shard.execute(Counter.self, key: key, commands: [.increment], expecting: nil) { _ in }
                }
                shard.snapshot(Counter.self, key: key) { result in
                    continuation.resume(with: result.mapError { $0 as any Error })
                }
            }
        }
        #expect(read.version == 11 && read.state == Counter.State(count: 10), "the read waited for the ten commands before it")
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func aRepeatedCommandIDGetsTheOriginalOutcomeAcrossARestart(_ kind: StoreKind) async throws {
        let store = try await Store(kind, directory: directory)
        var engine = try await store.start()
        let original = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment], commandID: "first")
        #expect(!original.duplicate)
        let live = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment], commandID: "first")
        #expect(live.duplicate && live.version == original.version && live.position == original.position && live.events == original.events)
        await engine.shutdown()

        engine = try await store.start()
        let loaded = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment], commandID: "first")
        #expect(loaded.duplicate && loaded.position == original.position && loaded.encodedEvents == original.encodedEvents)
        await #expect(throws: EngineError.self) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment], commandID: "first")
        }
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).version == 2, "nothing decided again")
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func aggregatesAreListedInByteOrder(_ kind: StoreKind) async throws {
        let engine = try await Store(kind, directory: directory).start()
        for name in ["b", "a", "c", "é"] {
            _ = try await engine.execute(Counter.self, id: id(name), commands: [.create])
            _ = try await engine.execute(Counter.self, id: id(name), commands: [.increment])
        }
        _ = try await engine.execute(Account.self, id: id("x"), commands: [.open(owner: "x")])
        let loop = engine.eventLoopGroup.any()
        let first = try await engine.aggregateIDs(of: Counter.name, after: nil, limit: 2, on: loop).get()
        #expect(first.ids == [id("a"), id("b")] && first.more)
        let rest = try await engine.aggregateIDs(of: Counter.name, after: id("b"), limit: 10, on: loop).get()
        #expect(rest.ids == [id("c"), id("é")] && !rest.more)
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func aSubscriberSeesEveryChainOnceInOrderFromCatchUpToLive(_ kind: StoreKind) async throws {
        let engine = try await Store(kind, directory: directory).start()
        for index in 0..<30 {
            _ = try await engine.execute(Counter.self, id: id("c\(index % 5)"), commands: index < 5 ? [.create] : [.increment])
        }
        let subscription = try engine.subscribe(after: 10)
        let writer = Task {
            for index in 30..<130 {
                _ = try await engine.execute(Counter.self, id: id("c\(index % 5)"), commands: [.increment])
            }
        }
        var positions: [UInt64] = []
        var versions: [AggregateKey: UInt64] = [:]
        while positions.count < 120, let chain = try await subscription.next() {
            positions.append(chain.position)
            #expect(chain.firstVersion == (versions[chain.key] ?? chain.firstVersion - 1) + 1 || versions[chain.key] == nil)
            versions[chain.key] = chain.lastVersion
        }
        try await writer.value
        #expect(positions == Array(11...130))
        subscription.cancel()
        let filtered = try engine.subscribe(after: 0, model: Counter.name, id: id("c3"))
        var seen: [UInt64] = []
        while seen.count < 26, let chain = try await filtered.next() {
            seen.append(chain.lastVersion)
        }
        #expect(seen == Array(1...26), "c3's chains only, all of them")
        filtered.cancel()
        await engine.shutdown()
    }

    @Test(arguments: StoreKind.allCases)
    func handlersSeeEveryChainInOrderAndResumeFromTheirCheckpoint(_ kind: StoreKind) async throws {
        let store = try await Store(kind, directory: directory)
        var handler = RecordingHandler()
        var engine = try await store.start(handlers: [handler])
        for index in 0..<20 {
            _ = try await engine.execute(Counter.self, id: id("c\(index % 3)"), commands: index < 3 ? [.create] : [.increment])
        }
        try await waitUntil(timeout: .seconds(60)) { handler.positions.count == 20 }
        #expect(handler.positions == Array(1...20))
        await engine.shutdown()

        handler = RecordingHandler()
        engine = try await store.start(handlers: [handler])
        #expect(handler.restored == [20], "the state saved with the checkpoint is restored")
        _ = try await engine.execute(Counter.self, id: id("c0"), commands: [.increment])
        try await waitUntil(timeout: .seconds(60)) { handler.positions == [21] }
        await engine.shutdown()
    }
}
