import Foundation
import Glibc
import SourcedClient
import SourcedJSON
import SourcedTestSupport
import SourcedWire
import Testing

/// One event line of a subscription.
struct StreamedEvent: Equatable {
    var position: Int64
    var id: String
    var version: Int64
    /// Whether this is its chain's last event.
    var endsChain: Bool

    init?(_ line: JSONValue) {
        guard let position = line["position"]?.integerValue, let id = line["id"]?.stringValue,
              let version = line["version"]?.integerValue, let index = line["event_index"]?.integerValue,
              let count = line["event_count"]?.integerValue
        else { return nil }
        self.position = position
        self.id = id
        self.version = version
        endsChain = index == count - 1
    }
}

extension SourcedConnection {
    /// Subscribes and returns the confirmation.
    func subscribe(from position: Int64?) async throws -> JSONValue {
        var request: JSONValue = ["op": "subscribe"]
        if let position { request["from"] = .integer(position) }
        return try await self.request(request)
    }

    /// Reads event lines until the whole chain at `position` arrived, or `count` lines.
    func readEvents(through position: Int64? = nil, count: Int? = nil) async throws -> [StreamedEvent] {
        var events: [StreamedEvent] = []
        while true {
            if let count, events.count >= count { return events }
            if let position, let last = events.last, last.position >= position, last.endsChain { return events }
            let line = try await receive()
            guard let event = StreamedEvent(line) else {
                throw ConnectionClosed(reason: "unexpected line \(line)")
            }
            events.append(event)
        }
    }
}

struct ConnectionClosed: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// Subscriptions as clients see them; the tests marked with a store run on the local logs and on
/// PostgreSQL (`--postgres`) alike.
@Suite(.postgresCluster) struct SubscriptionTests {
    /// Pipelines `count` increments on the given counters from one connection.
    func increment(_ ids: [String], on path: String) async throws -> [Int64] {
        let client = try await LineClient.connect(path)
        let lines = ids.map { #"{"op":"execute","model":"counter","id":"\#($0)","command":{"type":"increment"}}"# }
        try await client.sendRaw(Array((lines.joined(separator: "\n") + "\n").utf8))
        var positions: [Int64] = []
        for _ in ids {
            let reply = try await client.readReply()
            positions.append(try #require(reply["position"]?.integerValue, "\(reply)"))
        }
        await client.close()
        return positions
    }

    @Test(arguments: StoreKind.allCases)
    func subscribersSeeEveryPositionOnceInOrderUnderConcurrentWriters(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let aggregates = (0..<1000).map { "c\($0)" }
        let setup = try await LineClient.connect(daemon.socketPath)
        let creates = aggregates.map { #"{"op":"execute","model":"counter","id":"\#($0)","command":{"type":"create"}}"# }
        try await setup.sendRaw(Array((creates.joined(separator: "\n") + "\n").utf8))
        for _ in aggregates { #expect(try await setup.readReply()["ok"] == true) }

        let reader = try await LineClient.connect(daemon.socketPath)
        #expect(try await reader.subscribe(from: 0)["subscribed"] == true)
        let resumer = try await LineClient.connect(daemon.socketPath)
        _ = try await resumer.subscribe(from: 0)

        let writers = 32
        let perWriter = 40
        let acknowledged = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<writers {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    let ids = (0..<perWriter).map { _ in aggregates[Int(generator.next() % UInt64(aggregates.count))] }
                    return try await increment(ids, on: daemon.socketPath)
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let last = Int64(aggregates.count + writers * perWriter)
        #expect(Set(acknowledged).count == writers * perWriter && acknowledged.allSatisfy { $0 > Int64(aggregates.count) && $0 <= last })

        let seen = try await reader.readEvents(through: last)
        #expect(seen.map(\.position) == Array(1...last), "every position exactly once, in order")
        var versions: [String: Int64] = [:]
        for event in seen {
            #expect(event.version == versions[event.id, default: 0] + 1, "\(event.id) versions in order")
            versions[event.id] = event.version
        }

        let firstPart = try await resumer.readEvents(count: 700)
        await resumer.close()
        let again = try await LineClient.connect(daemon.socketPath)
        _ = try await again.subscribe(from: firstPart.last!.position)
        let rest = try await again.readEvents(through: last)
        #expect(firstPart + rest == seen, "a resumed subscriber sees the same sequence")
        await again.close()
        await reader.close()
        await setup.close()
        #expect(await daemon.stop() == 0)
    }

    @Test(arguments: StoreKind.allCases) func liveOnlyAndFilteredSubscriptions(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"old","command":{"type":"create"}}"#)
        let live = try await LineClient.connect(daemon.socketPath)
        #expect(try await live.subscribe(from: nil)["from"] == 1)
        let accounts = try await LineClient.connect(daemon.socketPath)
        _ = try await accounts.request(line: #"{"op":"subscribe","from":0,"model":"account","id":"a1"}"#)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a2","command":{"type":"open","owner":"x"}}"#)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","commands":[{"type":"open","owner":"ada"},{"type":"deposit","amount":5}]}"#)
        let liveEvents = try await live.readEvents(count: 3)
        #expect(liveEvents.map(\.position) == [2, 3, 3] && liveEvents.map(\.version) == [1, 1, 2])
        let line = try await accounts.receive()
        #expect(line["type"] == "opened" && line["data"] == ["owner": "ada"] && line["model"] == "account" && line["position"] == 3)
        let beyond = try await LineClient.connect(daemon.socketPath)
        #expect(try await beyond.request(line: #"{"op":"subscribe","from":99}"#).errorCode == "bad_request")
        #expect(try await beyond.request(line: #"{"op":"subscribe","model":"nope"}"#).errorCode == "unknown_model")
        #expect(try await beyond.request(line: #"{"op":"subscribe","id":"a1"}"#).errorCode == "bad_request")
        for connection in [client, live, accounts, beyond] { await connection.close() }
        #expect(await daemon.stop() == 0)
    }

    /// A subscriber that never reads costs writers nothing and the daemon bounded memory, and is
    /// told where to resume when it finally reads.
    @Test func aSubscriberThatNeverReadsFallsBehindWithoutSlowingWriters() async throws {
        let daemon = try await DaemonProcess(arguments: ["--subscription-buffer", "100"])
        let setup = try await LineClient.connect(daemon.socketPath)
        let ids = (0..<20).map { "s\($0)" }
        for id in ids { _ = try await setup.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"create"}}"#) }
        let slow = try await LineClient.connect(daemon.socketPath)
        #expect(try await slow.subscribe(from: nil)["subscribed"] == true)
        let before = try daemon.residentMegabytes()
        var positions: [Int64] = []
        for _ in 0..<15 {
            positions += try await increment(Array(repeating: ids, count: 10).flatMap { $0 }, on: daemon.socketPath)
        }
        #expect(positions.count == 3000, "every writer finished while the subscriber read nothing")
        #expect(try daemon.residentMegabytes() - before < 100)
        print("peak resident memory, slow subscriber: \(try daemon.residentMegabytes(peak: true)) MiB")

        var received: [StreamedEvent] = []
        var ending: JSONValue?
        while ending == nil {
            let line = try await slow.receive()
            if let event = StreamedEvent(line) { received.append(event) } else { ending = line }
        }
        #expect(ending?.errorCode == "fell_behind")
        let resume = try #require(ending?["error"]?["resume_from"]?.integerValue)
        #expect(resume == received.last?.position ?? 20, "resume from the last position received")
        #expect(received.map(\.position) == Array((21...).prefix(received.count)))
        let resumed = try await LineClient.connect(daemon.socketPath)
        _ = try await resumed.subscribe(from: resume)
        #expect(try await resumed.readEvents(count: 1).first?.position == resume + 1)
        for connection in [setup, slow, resumed] { await connection.close() }
        #expect(await daemon.stop() == 0)
    }

    /// A client that shuts down its writing side after `subscribe` (as `nc -N` and `socat` do
    /// when their input ends) keeps receiving the stream, catch-up and live, until it closes.
    @Test func aHalfClosedSubscriberKeepsItsStream() async throws {
        let daemon = try await DaemonProcess()
        let setup = try await LineClient.connect(daemon.socketPath)
        let creates = (0..<300).map { #"{"op":"execute","model":"counter","id":"h\#($0)","command":{"type":"create"}}"# }
        try await setup.sendRaw(Array((creates.joined(separator: "\n") + "\n").utf8))
        for _ in creates { #expect(try await setup.readReply()["ok"] == true) }
        let socket = try RawSocket.connect(to: daemon.socketPath, timeoutSeconds: 60)
        defer { close(socket) }
        try RawSocket.write(Array(#"{"op":"subscribe","from":0}"#.utf8) + [0x0A], to: socket)
        shutdown(socket, Int32(SHUT_WR))
        let caughtUp = try RawSocket.readLines(301, from: socket)
        #expect(caughtUp.count == 301, "the confirmation and every past event")
        #expect(try SourcedConnection.decode(caughtUp.last ?? "")["position"] == 300)
        _ = try await setup.request(line: #"{"op":"execute","model":"counter","id":"h0","command":{"type":"increment"}}"#)
        let live = try RawSocket.readLines(1, from: socket)
        #expect(try SourcedConnection.decode(live.first ?? "")["position"] == 301, "and live events after")
        await setup.close()
        #expect(await daemon.stop() == 0)
    }
}
