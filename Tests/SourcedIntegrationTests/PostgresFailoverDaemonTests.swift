import Foundation
import Glibc
import SourcedJSON
import SourcedTestSupport
import Testing

/// A real `sourced --postgres` daemon through a failover of its PostgreSQL cluster (issue 17's
/// acceptance): a primary with two synchronous standbys, the daemon given all three hosts and
/// `target_session_attrs=read-write`, 16 clients executing commands with command ids and a
/// subscriber following the global stream. Mid-load the primary is killed with SIGKILL and the
/// most advanced standby promoted; the same daemon process carries on.
@Suite(.serialized)
struct PostgresFailoverDaemonTests {
    static let clients = 16
    static let aggregatesPerClient = 4
    /// Acknowledgements before the primary is killed: every client well into its load.
    static let acknowledgedBeforeKill = 400
    /// Acknowledgements each client needs after the promotion before it stops.
    static let acknowledgedAfterPromotion = 100
    /// The bound of the whole load, failover included, on a loaded machine.
    static let loadDeadline = Duration.seconds(600)
    /// The aggregate of the command sent once the load is over; the subscriber stops at its event.
    static let lastAggregate = "after-failover"

    @Test func acknowledgedCommandsSurviveAFailoverAndTheSameDaemonServesOn() async throws {
        let cluster = try await PostgresReplicatedCluster.start()
        do {
            try await run(on: cluster)
            await cluster.stop()
        } catch {
            await cluster.stop()
            throw error
        }
    }

    private func run(on cluster: PostgresReplicatedCluster) async throws {
        // The daemon's schema goes into the cluster's `postgres` database, so that the test can
        // read the rows back with `psql` on whichever node is the primary at the end.
        let url = cluster.connectionString(database: "postgres", nodes: cluster.nodes)
        let daemon = try await DaemonProcess(arguments: ["--postgres", url], logLevel: "info")
        let pid = daemon.pid
        let socket = daemon.socketPath
        let load = FailoverLoad(acknowledgementsAfterPromotion: Self.acknowledgedAfterPromotion)
        let clock = ContinuousClock()
        let deadline = clock.now + Self.loadDeadline

        async let subscription = Self.subscribe(at: socket, deadline: deadline + .seconds(120))
        let (acknowledged, killedAt, promoted) = try await withThrowingTaskGroup(
            of: [SeenChain].self, returning: ([[SeenChain]], ContinuousClock.Instant, PostgresNode).self
        ) { group in
            for client in 0..<Self.clients {
                group.addTask { try await Self.execute(as: client, at: socket, load: load, deadline: deadline) }
            }
            try await waitUntil(timeout: .seconds(300)) { load.acknowledgedCount >= Self.acknowledgedBeforeKill }
            let killedAt = clock.now
            load.phase = .failingOver(killedAt: killedAt)
            var promotedAfter = Duration.zero
            let (promoted, other) = try await cluster.failOver {
                load.phase = .after(killedAt: killedAt)
                promotedAfter = clock.now - killedAt
            }
            print("daemon failover: promoted \(promoted.name) \(Self.seconds(promotedAfter)) after the kill, \(other.name) streaming synchronously from it \(Self.seconds(clock.now - killedAt)) after the kill")
            var acknowledged: [[SeenChain]] = []
            for try await chains in group { acknowledged.append(chains) }
            return (acknowledged, killedAt, promoted)
        }

        // The same process, never restarted, serves a new command; its event closes the stream.
        #expect(daemon.pid == pid && kill(pid, 0) == 0, "the daemon that ran before the failover still runs")
        let client = try await LineClient.connect(socket)
        let last = try await client.request(
            line: #"{"op":"execute","model":"counter","id":"\#(Self.lastAggregate)","commands":[{"type":"create"}],"command_id":"\#(Self.lastAggregate)"}"#
        )
        #expect(last["ok"] == true, "a new command after the failover: \(last)")
        let lastPosition = try #require(last["position"]?.integerValue, "\(last)")

        // What the promoted node holds: one row per chain, by position.
        let rows = try await cluster.query("SELECT position, model, aggregate_id, first_version, event_count FROM sourced.chains ORDER BY position", on: promoted)
        let stored = rows.map { row in
            SeenChain(model: row[1], id: row[2], version: Int64(row[3]) ?? -1, position: Int64(row[0]) ?? -1)
        }
        #expect(rows.allSatisfy { $0.count == 5 && $0[4] == "1" }, "every chain holds one event")
        #expect(stored.map(\.position) == Array(1...Int64(stored.count)), "positions 1...N with no gap")
        #expect(stored.last?.position == lastPosition, "the last command took the last position")
        // Every acknowledged command is where it was acknowledged.
        let byPosition = Dictionary(stored.map { ($0.position, $0) }, uniquingKeysWith: { first, _ in first })
        var count = 0
        for chains in acknowledged {
            for ack in chains {
                count += 1
                var found = byPosition[ack.position]
                found?.duplicate = ack.duplicate
                #expect(found == ack, "acknowledged \(ack) is at its position; found \(byPosition[ack.position].map { "\($0)" } ?? "nothing")")
            }
        }
        // Each aggregate's versions follow position order, once each (no retry applied twice),
        // and end at its last acknowledged version (no command ran that was not acknowledged).
        var versions: [String: [Int64]] = [:]
        for chain in stored { versions[chain.model + "/" + chain.id, default: []].append(chain.version) }
        for (key, list) in versions { #expect(list == Array(1...Int64(list.count)), "\(key) in position order: \(list)") }
        for chains in acknowledged {
            for ack in chains.last.map({ [$0] }) ?? [] {
                #expect(versions[ack.model + "/" + ack.id]?.last == ack.version, "\(ack.id) ends at its last acknowledged version")
            }
        }
        #expect(versions.count == Self.clients * Self.aggregatesPerClient + 1)
        // The daemon answers for an aggregate what the database holds.
        for chains in acknowledged {
            guard let ack = chains.last else { continue }
            let got = try await client.request(line: #"{"op":"get","model":"counter","id":"\#(ack.id)"}"#)
            #expect(got["version"]?.integerValue == ack.version, "get \(ack.id): \(got)")
            #expect(got["state"]?["count"]?.integerValue == ack.version - 1, "get \(ack.id): \(got)")
        }
        await client.close()

        // The subscriber saw every chain once, in position order.
        let (seen, resubscriptions) = try await subscription
        #expect(seen.map(\.position) == Array(1...Int64(seen.count)), "the subscriber saw positions 1...N once each, in order")
        #expect(seen == stored, "the subscriber saw what the database holds")

        let figures = load.figures(killedAt: killedAt)
        print(
            "daemon failover: \(count) commands acknowledged by \(Self.clients) clients (\(figures.acknowledgedBeforeKill) before the kill, "
                + "\(figures.acknowledgedAfterPromotion) after the promotion, \(figures.duplicates) answered as duplicates of a landed try), \(stored.count) chains stored; "
                + "writers saw errors from \(figures.errorsFrom.map(Self.seconds) ?? "-") to \(figures.errorsUntil.map(Self.seconds) ?? "-") after the kill, "
                + "first acknowledgement after the promotion \(figures.killToFirstAcknowledgement.map(Self.seconds) ?? "never") after the kill, "
                + "longest gap between acknowledgements \(Self.seconds(figures.longestGap)); failures: \(figures.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }); "
                + "subscriber: \(seen.count) chains, subscribed again \(resubscriptions.count) times \(resubscriptions)"
        )
        // How the daemon saw it: its commit feed lost and found again (the subscription waits meanwhile).
        let feedLines = daemon.log.split(separator: "\n").filter { $0.contains("commit feed") || $0.contains("listening for commits again") }
        print("daemon failover: the daemon's log about its commit feed: \(feedLines.prefix(4).map { String($0.prefix(300)) })")
        #expect(await daemon.stop() == 0, "the daemon stops cleanly: \(daemon.log.suffix(2000))")
    }

    /// `duration` in seconds, to the millisecond.
    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// Executes `client`'s commands, one at a time, round-robin over its own counters: `create`,
    /// then `increment`s, each with a command id of its own. A command answered `unavailable` or
    /// `outcome_unknown`, or whose connection is lost, is sent again with the same command id
    /// until it is acknowledged. Stops once the client has its share acknowledged after the
    /// promotion; returns every acknowledged command in the order acknowledged.
    private static func execute(as client: Int, at socket: String, load: FailoverLoad, deadline: ContinuousClock.Instant) async throws -> [SeenChain] {
        var connection: LineClient? = try await LineClient.connect(socket)
        var acknowledged: [SeenChain] = []
        var version: Int64 = 1
        while !load.isDone(client) {
            for aggregate in 0..<aggregatesPerClient {
                let id = "w\(client)a\(aggregate)"
                let command = version == 1 ? "create" : "increment"
                let line = #"{"op":"execute","model":"counter","id":"\#(id)","commands":[{"type":"\#(command)"}],"command_id":"\#(id)-v\#(version)"}"#
                while true {
                    guard ContinuousClock.now < deadline else {
                        throw DaemonFailed(message: "client \(client): \(id) version \(version) not acknowledged within \(loadDeadline)")
                    }
                    let reply: JSONValue
                    do {
                        if connection == nil { connection = try await LineClient.connect(socket) }
                        try await connection!.send(line: line)
                        reply = try await connection!.receive(timeout: .seconds(120))
                    } catch {
                        load.failed("connection: \(error)")
                        await connection?.close()
                        connection = nil
                        try await Task.sleep(for: .milliseconds(20))
                        continue
                    }
                    if reply["ok"] == true {
                        let ack = SeenChain(
                            model: "counter", id: id, version: reply["version"]?.integerValue ?? -1, position: reply["position"]?.integerValue ?? -1,
                            duplicate: reply["duplicate"] == true
                        )
                        #expect(ack.version == version, "client \(client): \(id) acknowledged at the version it was sent for: \(reply)")
                        acknowledged.append(ack)
                        load.acknowledged(by: client, duplicate: ack.duplicate)
                        break
                    }
                    let code = reply["error"]?["code"]?.stringValue ?? "?"
                    guard code == "unavailable" || code == "outcome_unknown" else {
                        throw DaemonFailed(message: "client \(client): \(id) version \(version): \(reply)")
                    }
                    load.failed(code)
                    // Paces the retries while no host accepts writes; not a synchronisation.
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            version += 1
        }
        await connection?.close()
        return acknowledged
    }

    /// Follows the global stream from the start until the event of ``lastAggregate``; if the
    /// daemon ends the subscription (an error line, or a closed connection), subscribes again
    /// after the last position seen. Gives up at `deadline`, or once cancelled. Returns the chains
    /// seen, and why it subscribed again each time.
    private static func subscribe(at socket: String, deadline: ContinuousClock.Instant) async throws -> ([SeenChain], [String]) {
        var seen: [SeenChain] = []
        var resubscriptions: [String] = []
        while true {
            try Task.checkCancellation()
            guard ContinuousClock.now < deadline else {
                throw DaemonFailed(message: "the subscriber did not see \(lastAggregate) before its deadline; saw \(seen.count) chains, subscribed again \(resubscriptions)")
            }
            let connection = try await LineClient.connect(socket)
            let from = seen.last?.position ?? 0
            let reply = try await connection.request(line: #"{"op":"subscribe","from":\#(from)}"#)
            guard reply["subscribed"] == true else {
                throw DaemonFailed(message: "subscribe from \(from): \(reply)")
            }
            while true {
                let event: JSONValue
                do {
                    event = try await connection.receive(timeout: .seconds(60))
                } catch {
                    resubscriptions.append("after \(seen.last?.position ?? 0): \(error)")
                    break
                }
                guard event["ok"] != false else {
                    resubscriptions.append("after \(seen.last?.position ?? 0): \(event)")
                    break
                }
                let chain = SeenChain(
                    model: event["model"]?.stringValue ?? "?", id: event["id"]?.stringValue ?? "?",
                    version: event["version"]?.integerValue ?? -1, position: event["position"]?.integerValue ?? -1
                )
                seen.append(chain)
                if chain.id == lastAggregate {
                    await connection.close()
                    return (seen, resubscriptions)
                }
            }
            await connection.close()
        }
    }
}
