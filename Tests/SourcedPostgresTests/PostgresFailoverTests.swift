import Foundation
import Logging
import SourcedCore
import SourcedPostgres
import SourcedStorage
import SourcedTestSupport
import Testing

/// The store through a failover: the primary of a cluster with two synchronous standbys is killed
/// under load and the most advanced standby promoted, and the same store object carries on.
@Suite(.serialized)
struct PostgresFailoverTests {
    static let committers = 16
    static let chainsPerCommit = 4

    @Test func acknowledgedCommitsSurviveAFailoverAndTheStoreCarriesOn() async throws {
        try await withReplicatedCluster { cluster in
            try await cluster.createDatabase("events", on: cluster.primary)
            // Every node, the primary first: the store settles on whichever accepts writes.
            let settings = try PostgresConnectionSettings(parsing: cluster.connectionString(database: "events", nodes: cluster.nodes))
            let store = try await PostgresEventStore.open(settings, logger: Logger(label: "test"))
            let load = FailoverLoad(acknowledgementsAfterPromotion: 20)
            let clock = ContinuousClock()

            let acknowledged = try await withDeadline(.seconds(600)) {
                try await withThrowingTaskGroup(of: [[CommittedChain]].self, returning: [[[CommittedChain]]].self) { group in
                    for committer in 0..<Self.committers {
                        group.addTask { try await Self.commit(as: committer, to: store, load: load) }
                    }
                    // Mid-load: every committer has had commits acknowledged by the primary.
                    try await waitUntil(timeout: .seconds(300)) { load.acknowledgedCount >= Self.committers * 25 }
                    let acknowledgedBefore = load.acknowledgedCount
                    let killedAt = clock.now
                    load.phase = .failingOver(killedAt: killedAt)
                    var promotedAfter = Duration.zero
                    let (promoted, other) = try await cluster.failOver {
                        load.phase = .after(killedAt: killedAt)
                        promotedAfter = clock.now - killedAt
                    }
                    let followingAfter = clock.now - killedAt
                    var acknowledged: [[[CommittedChain]]] = []
                    for try await batches in group { acknowledged.append(batches) }
                    let blocked = load.figures(killedAt: killedAt)
                    print(
                        "failover: killed the primary after \(acknowledgedBefore) commits were acknowledged; promoted \(promoted.name) after \(promotedAfter),"
                            + " \(other.name) streaming synchronously from it after \(followingAfter); first commit acknowledged by it \(blocked.killToFirstAcknowledgement.map { "\($0)" } ?? "never") after the kill,"
                            + " longest gap between acknowledgements \(blocked.longestGap); failures: \(blocked.errors.sorted { $0.key < $1.key })"
                    )
                    return acknowledged
                }
            }

            // Read back through the same store, now connected to the promoted standby.
            let stream = try await wholeStream(store)
            #expect(stream.map(\.position) == Array(1...UInt64(stream.count)), "positions 1...N with no gap")
            var count = 0
            for batches in acknowledged {
                for batch in batches {
                    for committed in batch {
                        count += 1
                        let found = committed.position <= stream.count ? stream[Int(committed.position) - 1] : nil
                        #expect(found == committed, "acknowledged \(committed) is where it was acknowledged")
                    }
                }
                var positions: [UInt64] = []
                for batch in batches { positions += batch.map { $0.position } }
                #expect(positions == positions.sorted(), "a committer's later commits got later positions")
            }
            // Every aggregate holds versions 1...n once each: nothing doubled by a retry.
            var versions: [AggregateKey: [UInt64]] = [:]
            for committed in stream { versions[committed.key, default: []].append(committed.firstVersion) }
            for (key, list) in versions { #expect(list == Array(1...UInt64(list.count)), "\(key)") }
            // And commits go on through the same store object.
            let after = try await store.commit([chain("after-failover", version: 1)])
            #expect(after.map(\.position) == [UInt64(stream.count) + 1])
            print("failover: \(count) chains in \(acknowledged.map(\.count).reduce(0, +)) commits acknowledged by \(Self.committers) committers, \(stream.count) chains in the stream")
            await store.close()
        }
    }

    /// Commits `committer`'s own aggregates, one version further each time, until it has had
    /// ``FailoverLoad/commitsAfterFailover`` commits acknowledged after the promotion; retries
    /// what failed for the failover's sake. Returns the acknowledged commits.
    private static func commit(as committer: Int, to store: PostgresEventStore, load: FailoverLoad) async throws -> [[CommittedChain]] {
        var acknowledged: [[CommittedChain]] = []
        var version: UInt64 = 1
        while !load.isDone(committer) {
            let batch = (0..<chainsPerCommit).map { chain("w\(committer)a\($0)", version: version) }
            let outcome: Result<[CommittedChain], PostgresStoreError>
            do {
                outcome = .success(try await store.commit(batch))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let committed):
                acknowledged.append(committed)
                load.acknowledged(by: committer)
                version += 1
            case .failure(.outcomeUnknown):
                load.failed("outcomeUnknown")
                // The commit is all or nothing: its first chain tells whether it landed.
                if try await landed(batch[0], in: store, load: load) {
                    load.failed("outcomeUnknown, had committed")
                    version += 1
                }
            case .failure(.unavailable), .failure(.cannotConnect):
                load.failed("unavailable or cannotConnect")
                try await Task.sleep(for: .milliseconds(20))
            case .failure(let error):
                throw error
            }
        }
        return acknowledged
    }

    /// Whether `chain` is committed, read from whichever host accepts writes once one does.
    private static func landed(_ chain: CommittedChain, in store: PostgresEventStore, load: FailoverLoad) async throws -> Bool {
        while true {
            let found: [CommittedChain]
            do {
                found = try await store.chains(of: chain.key, after: chain.firstVersion - 1, limit: 1)
            } catch {
                switch error {
                case .unavailable, .cannotConnect: break
                default: throw error
                }
                load.failed("read: unavailable or cannotConnect")
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            guard var first = found.first, first.firstVersion == chain.firstVersion else { return false }
            first.position = 0
            #expect(first == chain, "the chain that landed is the one sent")
            return true
        }
    }
}
