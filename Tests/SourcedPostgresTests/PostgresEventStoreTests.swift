import Foundation
import Logging
import PostgresNIO
import SourcedCore
import SourcedPostgres
import SourcedStorage
import SourcedTestSupport
import Testing

@Suite(.postgresCluster)
struct PostgresEventStoreTests {
    @Test func migrationsAreIdempotentAndKeepData() async throws {
        let database = try await TestDatabase()
        // Two stores opening an empty database at once migrate it once.
        async let first = database.openStore()
        async let second = database.openStore()
        let stores = try await [first, second]
        let committed = try await stores[0].commit([chain("c1", version: 1)])
        for store in stores { await store.close() }

        let reopened = try await database.openStore()
        #expect(try await wholeStream(reopened) == committed)
        await reopened.close()
        let versions = try await database.withConnection { connection in
            try await connection.query("SELECT version FROM sourced.schema_version", logger: .init(label: "test")).collect().map { try $0.decode(Int.self) }
        }
        #expect(versions == [1])
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let database = try await TestDatabase()
        try await database.openStore().close()
        try await database.withConnection { connection in
            try await connection.query("UPDATE sourced.schema_version SET version = 99", logger: .init(label: "test"))
        }
        await #expect(throws: PostgresStoreError.schemaTooNew(found: 99, supported: 1)) {
            try await database.openStore()
        }
    }

    @Test func aGroupCommitTakesConsecutivePositionsInOrder() async throws {
        let store = try await TestDatabase().openStore()
        let batch = (1...50).map { chain("a\($0)", version: 1, events: $0 % 3 + 1, commandID: $0.isMultiple(of: 2) ? "cmd-\($0)" : nil) }
        let first = try await store.commit(batch)
        #expect(first.map(\.position) == Array(1...50))
        let second = try await store.commit([chain("a1", version: 2), chain("a2", version: 2), chain("a1", version: 3)])
        #expect(second.map(\.position) == [51, 52, 53])
        #expect(try await store.lastPosition() == 53)
        #expect(try await wholeStream(store, pageSize: 7) == first + second)
        #expect(try await store.commit([]) == [])
        await store.close()
    }

    @Test func concurrentCommittersLeaveNoGapAndKeepCommitOrder() async throws {
        let database = try await TestDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresEventStore.self) { group in
            for _ in 0..<3 { group.addTask { try await database.openStore() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let tasksPerStore = 2, commits = 40, chainsPerCommit = 64
        let clock = ContinuousClock()
        let start = clock.now
        // Each task commits its own aggregates, one version further each commit.
        let acknowledged = try await withThrowingTaskGroup(of: [[CommittedChain]].self) { group in
            for (storeIndex, store) in stores.enumerated() {
                for task in 0..<tasksPerStore {
                    group.addTask {
                        var acknowledged: [[CommittedChain]] = []
                        for version in 1...UInt64(commits) {
                            let batch = (0..<chainsPerCommit).map { chain("s\(storeIndex)t\(task)a\($0)", version: version) }
                            acknowledged.append(try await store.commit(batch))
                        }
                        return acknowledged
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let elapsed = clock.now - start
        let total = stores.count * tasksPerStore * commits * chainsPerCommit
        print("PostgreSQL store: \(total) chains in \(stores.count * tasksPerStore * commits) commits by \(stores.count * tasksPerStore) committers on \(stores.count) connections: \(elapsed), \(Int(Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))) chains/s")

        let stream = try await wholeStream(stores[0])
        #expect(stream.map(\.position) == Array(1...UInt64(total)))
        for committed in acknowledged {
            // Every acknowledged chain is in the stream at the position it was given, and a
            // committer's later commit always got later positions.
            for batch in committed {
                #expect(batch.map(\.position) == Array(batch[0].position...batch[0].position + UInt64(chainsPerCommit) - 1))
                for chain in batch { #expect(stream[Int(chain.position) - 1] == chain) }
            }
            #expect(zip(committed, committed.dropFirst()).allSatisfy { $0.last!.position < $1.first!.position })
        }
        for store in stores { await store.close() }
    }

    @Test func aStaleVersionIsRefusedNamingTheAggregate() async throws {
        let store = try await TestDatabase().openStore()
        _ = try await store.commit([chain("c1", version: 1), chain("c1", version: 2, events: 2)])
        await #expect(throws: PostgresStoreError.stale([StaleChain(key: chain("c1", version: 2).key, firstVersion: 2)])) {
            try await store.commit([chain("c2", version: 1), chain("c1", version: 2), chain("c3", version: 1)])
        }
        // Nothing of the refused commit was written, and no position was used up.
        #expect(try await store.lastPosition() == 2)
        #expect(try await store.chains(of: chain("c2", version: 1).key, after: 0).isEmpty)
        // The other chains go through once resubmitted without the stale one.
        let retried = try await store.commit([chain("c2", version: 1), chain("c3", version: 1), chain("c1", version: 4)])
        #expect(retried.map(\.position) == [3, 4, 5])
        #expect(try await wholeStream(store).map(\.position) == [1, 2, 3, 4, 5])
        await store.close()
    }

    @Test func replayReturnsExactlyWhatWasAppended() async throws {
        let store = try await TestDatabase().openStore()
        var appended: [CommittedChain] = []
        var version: UInt64 = 1
        for round in 0..<25 {
            var batch: [CommittedChain] = []
            for index in 0..<100 {
                let events = (round + index) % 3 + 1
                batch.append(chain("r1", version: version, events: events, commandID: index.isMultiple(of: 5) ? "id-\(version)" : nil))
                batch.append(chain("other", version: UInt64(round * 100 + index + 1)))
                version += UInt64(events)
            }
            appended += try await store.commit(batch).filter { $0.key.id.rawValue == "r1" }
        }
        var replayed: [CommittedChain] = []
        let last = try await store.replay(chain("r1", version: 1).key, pageSize: 7) { replayed.append($0) }
        #expect(replayed == appended)
        #expect(last == version - 1)
        // From the middle: the chains after a version.
        let middle = appended[1234]
        var rest: [CommittedChain] = []
        try await store.replay(middle.key, after: middle.lastVersion) { rest.append($0) }
        #expect(rest == Array(appended[1235...]))
        #expect(try await store.replay(chain("never", version: 1).key) { _ in Issue.record("no chains expected") } == 0)
        await store.close()
    }

    @Test func aCommitWakesAWaitingReader() async throws {
        let database = try await TestDatabase()
        let store = try await database.openStore()
        let writer = try await database.openStore()
        _ = try await writer.commit([chain("w1", version: 1)])
        let listener = try await PostgresCommitListener.start(database.settings)
        #expect(listener.newestPosition == 1)
        // Already beyond: no wait.
        #expect(try await listener.wait(after: 0) == 1)

        let reader = Task {
            let position = try await listener.wait(after: 1)
            return try await store.chains(after: 1)
                .map { ($0.position, $0.key.id.rawValue) }.map { "\($0.0):\($0.1)" } + ["woken at \(position)"]
        }
        // The reader waits before the commit: only the notification can wake it.
        try await waitUntil { listener.waitingReaders == 1 }
        _ = try await writer.commit([chain("w2", version: 1), chain("w3", version: 1)])
        let seen = try await withDeadline(.seconds(60)) { try await reader.value }
        #expect(seen == ["2:w2", "3:w3", "woken at 3"])

        await listener.close()
        await #expect(throws: PostgresStoreError.self) { try await listener.wait(after: 3) }
        await store.close()
        await writer.close()
    }

    @Test func checkpointsRoundTrip() async throws {
        let store = try await TestDatabase().openStore()
        #expect(try await store.readHandlerState("balances") == nil)
        try await store.writeHandlerState("balances", position: 5, state: [1, 2, 3])
        try await store.writeHandlerState("other", position: 1, state: [])
        try await store.writeHandlerState("balances", position: 9, state: Array("{\"total\":7}".utf8))
        let saved = try #require(try await store.readHandlerState("balances"))
        #expect(saved.position == 9 && saved.state == Array("{\"total\":7}".utf8))
        let other = try #require(try await store.readHandlerState("other"))
        #expect(other.position == 1 && other.state.isEmpty)
        await store.close()
    }

    @Test func aConnectionLostMidCommitIsOutcomeUnknown() async throws {
        let database = try await TestDatabase()
        let store = try await database.openStore()
        _ = try await store.commit([chain("k1", version: 1)])
        try await database.withConnection { blocker in
            let logger = Logger(label: "test")
            // Hold the counter row so the store's commit is sent and waits for its lock.
            try await blocker.query("BEGIN", logger: logger)
            try await blocker.query("UPDATE sourced.position_counter SET last = last", logger: logger)
            let commit = Task { try await store.commit([chain("k1", version: 2)]) }
            var waiting: [Int32] = []
            try await waitUntil {
                waiting = try await blocker.query(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%position_counter%' AND pid <> pg_backend_pid()",
                    logger: logger
                ).collect().map { try $0.decode(Int32.self) }
                return !waiting.isEmpty
            }
            try await blocker.query("SELECT pg_terminate_backend(\(waiting[0]))", logger: logger)
            let result = await commit.result
            guard case .failure(let error as PostgresStoreError) = result, case .outcomeUnknown = error else {
                Issue.record("expected outcome unknown, got \(result)")
                return
            }
            try await blocker.query("ROLLBACK", logger: logger)
        }
        // The store connects again; the lost commit did not happen, so version 2 is still free.
        #expect(try await store.commit([chain("k1", version: 2)]).map(\.position) == [2])
        await store.close()
    }
}
