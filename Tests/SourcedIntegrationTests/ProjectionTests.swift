import Foundation
import SourcedClient
import SourcedJSON
import SourcedTestSupport
import SourcedWire
import Testing

@Suite struct ProjectionTests {
    /// Opens `accounts`, then moves money in and out of every open account and closes some,
    /// keeping `balances` as the replies report them.
    func trade(on client: SourcedConnection, accounts: Range<Int>, balances: inout [String: Int64]) async throws {
        var generator = SystemRandomNumberGenerator()
        for index in accounts {
            let id = "acct-\(index)"
            let reply = try await client.request(line: #"{"op":"execute","model":"account","id":"\#(id)","commands":[{"type":"open","owner":"o\#(index)"},{"type":"deposit","amount":\#(100 + index)}]}"#)
            balances[id] = try #require(reply["state"]?["balance"]?.integerValue)
        }
        for _ in 0..<200 {
            let id = balances.keys.randomElement(using: &generator)!
            let amount = Int.random(in: 1...80, using: &generator)
            let type = Bool.random(using: &generator) ? "deposit" : "withdraw"
            let reply = try await client.request(line: #"{"op":"execute","model":"account","id":"\#(id)","command":{"type":"\#(type)","amount":\#(amount)}}"#)
            if let balance = reply["state"]?["balance"]?.integerValue { balances[id] = balance }
        }
        for (id, balance) in balances where balance > 0 && balance < 60 {
            _ = try await client.request(line: #"{"op":"execute","model":"account","id":"\#(id)","command":{"type":"withdraw","amount":\#(balance)}}"#)
            #expect(try await client.request(line: #"{"op":"execute","model":"account","id":"\#(id)","command":{"type":"close"}}"#)["ok"] == true)
            balances[id] = nil
        }
    }

    /// The projection's answer once it has caught up with the newest position.
    func caughtUpAnswer(_ client: SourcedConnection) async throws -> JSONValue {
        var answer: JSONValue = .null
        try await waitUntil(timeout: .seconds(30)) {
            let newest = try await client.request(line: #"{"op":"stats"}"#)["stats"]?["position"]
            answer = try await client.request(line: #"{"op":"query","projection":"account-balances","above":0,"limit":1000}"#)
            return answer["position"] == newest
        }
        return answer
    }

    func expected(_ balances: [String: Int64]) -> (total: Int64, accounts: [JSONValue]) {
        let sorted = balances.filter { $0.value > 0 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        return (balances.values.reduce(0, +), sorted.map { ["id": .string($0.key), "balance": .integer($0.value)] })
    }

    @Test func theAccountReadModelAfterARestartEqualsOneRebuiltFromScratch() async throws {
        let directory = TemporaryDirectory("sd")
        var balances: [String: Int64] = [:]
        var daemon = try await DaemonProcess(in: directory, arguments: ["--projection", "account-balances"])
        var client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"noise","command":{"type":"create"}}"#)
        try await trade(on: client, accounts: 0..<30, balances: &balances)
        let first = try await caughtUpAnswer(client)
        #expect(first["total"] == .integer(expected(balances).total) && first["accounts"] == .array(expected(balances).accounts))
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(FileManager.default.fileExists(atPath: directory.file("data/handlers/account-balances.state")))

        daemon = try await DaemonProcess(in: directory, arguments: ["--projection", "account-balances"])
        client = try await LineClient.connect(daemon.socketPath)
        try await trade(on: client, accounts: 30..<45, balances: &balances)
        let restored = try await caughtUpAnswer(client)
        #expect(restored["total"] == .integer(expected(balances).total) && restored["accounts"] == .array(expected(balances).accounts))
        let above = try await client.request(line: #"{"op":"query","projection":"account-balances","above":150,"limit":2}"#)
        #expect(above["matching"] == .integer(Int64(balances.values.filter { $0 > 150 }.count)))
        #expect((above["accounts"]?.arrayValue?.count ?? 0) <= 2)
        #expect(try await client.request(line: #"{"op":"query","projection":"nope"}"#).errorCode == "unknown_projection")
        #expect(try await client.request(line: #"{"op":"query","projection":"account-balances","above":"x"}"#).errorCode == "bad_request")
        await client.close()
        #expect(await daemon.stop() == 0)

        try FileManager.default.removeItem(atPath: directory.file("data/handlers/account-balances.state"))
        daemon = try await DaemonProcess(in: directory, arguments: ["--projection", "account-balances"])
        client = try await LineClient.connect(daemon.socketPath)
        let rebuilt = try await caughtUpAnswer(client)
        #expect(rebuilt == restored, "rebuilt from position 0, the read model equals the restored one")
        let handlers = try await client.request(line: #"{"op":"stats"}"#)["stats"]?["handlers"]
        #expect(handlers?.arrayValue?.first?["name"] == "account-balances" && handlers?.arrayValue?.first?["failure"] == nil)
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    /// Projections are opt-in: a daemon started without --projection runs none, says so when
    /// asked, and keeps no handler state; an unknown name is refused at start.
    /// `stats` counts the clients' subscriptions, not the projection's own feed.
    @Test func statsCountsSubscribersButNotProjections() async throws {
        let daemon = try await DaemonProcess(in: TemporaryDirectory("sd"), arguments: ["--projection", "account-balances"])
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","command":{"type":"open","owner":"ada"}}"#)
        var watchers: [LineClient] = []
        for _ in 0..<3 {
            let watcher = try await LineClient.connect(daemon.socketPath)
            #expect(try await watcher.request(line: #"{"op":"subscribe"}"#)["subscribed"] == true)
            watchers.append(watcher)
        }
        try await waitUntil {
            let stats = try await client.request(line: #"{"op":"stats"}"#)["stats"]
            return stats?["handlers"]?.arrayValue?.first?["position"] == 1 && stats?["subscribers"] == 3
        }
        for watcher in watchers {
            await watcher.close()
        }
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func projectionsRunOnlyWhenNamed() async throws {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","command":{"type":"open","owner":"ada"}}"#)
        let refused = try await client.request(line: #"{"op":"query","projection":"account-balances"}"#)
        #expect(refused.errorCode == "unknown_projection")
        #expect(refused["error"]?["message"]?.stringValue?.contains("--projection") == true)
        #expect(try await client.request(line: #"{"op":"stats"}"#)["stats"]?["handlers"] == .array([]))
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.file("data/handlers/account-balances.state")))

        let unknown = try await DaemonProcess(in: TemporaryDirectory("sd"), arguments: ["--projection", "nope"], waitUntilReady: false)
        #expect(await unknown.exitStatus() != 0)
        #expect(unknown.log.contains("unknown projection \"nope\""))
    }
}
