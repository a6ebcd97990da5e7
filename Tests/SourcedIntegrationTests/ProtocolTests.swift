import Foundation
import SourcedJSON
import SourcedTestSupport
import SourcedWire
import Testing

/// The protocol as clients see it; the tests marked with a store run on the local logs and on
/// PostgreSQL (`--postgres`) alike.
@Suite(.postgresCluster) struct ProtocolTests {
    /// The session of docs/protocol.md, line by line, compared in meaning.
    @Test(arguments: StoreKind.allCases) func theDocumentedSessionBehavesAsDocumented(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let client = try await LineClient.connect(daemon.socketPath)
        let created = try await client.request(line: #"{"op":"execute","model":"counter","id":"c1","command":{"type":"create"}}"#)
        #expect(created == ["ok": true, "model": "counter", "id": "c1", "version": 1, "position": 1, "events": [["type": "created"]], "state": ["count": 0]])
        let chained = try await client.request(line:
            #"{"op":"execute","model":"counter","id":"c1","commands":[{"type":"increment"},{"type":"increment"}]}"#
        )
        #expect(chained == [
            "ok": true, "model": "counter", "id": "c1", "version": 3, "position": 2,
            "events": [["type": "incremented", "count": 1], ["type": "incremented", "count": 2]], "state": ["count": 2],
        ])
        let got = try await client.request(line: #"{"op":"get","model":"counter","id":"c1"}"#)
        #expect(got == ["ok": true, "model": "counter", "id": "c1", "version": 3, "state": ["count": 2]])
        let again = try await client.request(line: #"{"op":"execute","model":"counter","id":"c1","command":{"type":"create"}}"#)
        #expect(again == ["ok": false, "error": ["code": "rejected", "message": "already created"]])
        let never = try await client.request(line: #"{"op":"get","model":"counter","id":"nobody","req":{"n":[1,2]}}"#)
        #expect(never == ["ok": true, "model": "counter", "id": "nobody", "version": 0, "state": nil, "req": ["n": [1, 2]]])
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test(arguments: StoreKind.allCases) func eventsPageThroughAnAggregate(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","commands":[{"type":"open","owner":"ada"},{"type":"deposit","amount":5},{"type":"withdraw","amount":2}]}"#)
        let page = try await client.request(line: #"{"op":"events","model":"account","id":"a1","from":1,"limit":1}"#)
        #expect(page["version"] == 3)
        let events = try #require(page["events"]?.arrayValue)
        #expect(events.count == 1)
        #expect(events.first?["version"] == 2 && events.first?["event"] == ["type": "deposited", "amount": 5, "balance": 5])
        let rest = try await client.request(line: #"{"op":"events","model":"account","id":"a1","from":2}"#)
        #expect(rest["events"]?.arrayValue?.map { $0["version"] } == [3])
        let none = try await client.request(line: #"{"op":"events","model":"account","id":"a1","from":3}"#)
        #expect(none["events"] == [])
        let bad = try await client.request(line: #"{"op":"events","model":"account","id":"a1","limit":0}"#)
        #expect(bad.errorCode == "bad_request")
        await client.close()
        _ = await daemon.stop()
    }

    /// `list` pages a model's ids after a cursor; a model's ids only, and only aggregates that
    /// recorded something.
    @Test(arguments: StoreKind.allCases) func listPagesAModelsIds(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let client = try await LineClient.connect(daemon.socketPath)
        for id in ["k3", "k1", "k2"] {
            #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"create"}}"#)["ok"] == true)
        }
        #expect(try await client.request(line: #"{"op":"execute","model":"account","id":"a1","command":{"type":"open","owner":"ada"}}"#)["ok"] == true)
        #expect(try await client.request(line: #"{"op":"get","model":"counter","id":"never"}"#)["version"] == 0)
        let first = try await client.request(line: #"{"op":"list","model":"counter","limit":2,"req":1}"#)
        #expect(first == ["ok": true, "model": "counter", "ids": ["k1", "k2"], "more": true, "req": 1])
        let rest = try await client.request(line: #"{"op":"list","model":"counter","after":"k2"}"#)
        #expect(rest == ["ok": true, "model": "counter", "ids": ["k3"], "more": false])
        #expect(try await client.request(line: #"{"op":"list","model":"account"}"#)["ids"] == ["a1"])
        #expect(try await client.request(line: #"{"op":"list","model":"nothing"}"#).errorCode == "unknown_model")
        #expect(try await client.request(line: #"{"op":"list","model":"counter","limit":0}"#).errorCode == "bad_request")
        #expect(try await client.request(line: #"{"op":"list","model":"counter","after":""}"#).errorCode == "invalid_id")
        await client.close()
        let listed = try await ToolRun.run("sourcectl", ["ls", "counter", "--limit", "1", "--all"], environment: ["SOURCED_SOCKET": daemon.socketPath])
        #expect(listed.status == 0 && listed.output == "k1\nk2\nk3\n", "\(listed.errors)")
        let page = try await ToolRun.run("sourcectl", ["ls", "counter", "--limit", "2"], environment: ["SOURCED_SOCKET": daemon.socketPath])
        #expect(page.output == "k1\nk2\n" && page.errors.contains("sourcectl ls counter --after k2"))
        #expect(await daemon.stop() == 0)
    }

    /// A `stats` pipelined behind an `execute` on one connection sees what the execute did.
    @Test(arguments: StoreKind.allCases) func pipelinedStatsSeeTheCommandsBeforeThem(_ store: StoreKind) async throws {
        let daemon = try await DaemonProcess(arguments: try await store.daemonArguments())
        let client = try await LineClient.connect(daemon.socketPath)
        var lines: [UInt8] = []
        for index in 0..<20 {
            lines += Array(#"{"op":"execute","model":"counter","id":"p\#(index)","command":{"type":"create"}}"#.utf8) + [0x0A]
            lines += Array(#"{"op":"stats"}"#.utf8) + [0x0A]
        }
        try await client.sendRaw(lines)
        for index in 0..<20 {
            let executed = try await client.readReply()
            let stats = try await client.readReply()
            let position = try #require(executed["position"]?.integerValue)
            #expect((stats["stats"]?["position"]?.integerValue ?? 0) >= position, "pair \(index)")
        }
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func modelsStatsAndPingAnswer() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"ping","req":"p"}"#) == ["ok": true, "pong": true, "req": "p"])
        let models = try await client.request(line: #"{"op":"models"}"#)
        let names = models["models"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["counter", "account"])
        let account = models["models"]?.arrayValue?.last
        let deposit = account?["commands"]?.arrayValue?.first { $0["type"] == "deposit" }
        #expect(deposit?["fields"] == ["amount": "integer"])
        _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"c","command":{"type":"create"}}"#)
        let stats = try #require(try await client.request(line: #"{"op":"stats"}"#)["stats"])
        for key in ["live_aggregates", "capacity", "hits", "misses", "loads", "evictions", "commands", "events", "fsyncs", "connections", "uptime_seconds"] {
            #expect(stats[key]?.integerValue != nil, "stats.\(key)")
        }
        #expect(stats["commands"] == 1 && stats["connections"] == 1 && stats["live_aggregates"] == 1)
        #expect(stats["version"]?.stringValue?.hasPrefix("0.5.0 (commit ") == true)
        let rss = try #require(stats["rss_bytes"]?.integerValue)
        #expect(rss > 1 << 20 && rss < 4 << 30, "the daemon's resident memory: \(rss) bytes")
        await client.close()
        _ = await daemon.stop()
    }

    @Test(arguments: StoreKind.allCases) func stateSurvivesARestart(_ store: StoreKind) async throws {
        let directory = TemporaryDirectory("sd")
        let arguments = try await store.daemonArguments()
        var daemon = try await DaemonProcess(in: directory, arguments: arguments)
        var client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","commands":[{"type":"open","owner":"ada"},{"type":"deposit","amount":100}]}"#)
        _ = try await client.request(line: #"{"op":"execute","model":"account","id":"a1","command":{"type":"withdraw","amount":40}}"#)
        await client.close()
        #expect(await daemon.stop() == 0)
        daemon = try await DaemonProcess(in: directory, arguments: arguments)
        client = try await LineClient.connect(daemon.socketPath)
        let state = try await client.request(line: #"{"op":"get","model":"account","id":"a1"}"#)
        #expect(state["version"] == 3 && state["state"] == ["owner": "ada", "balance": 60, "closed": false])
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    /// `req` comes back as the very text the client sent, whatever the reply: numbers no `Double`
    /// holds (`1e400`, 2^64) and the spacing inside the value included.
    @Test func reqIsEchoedByteForByte() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        let requests = [
            #"{"op":"ping","req":1e400}"#: #"{"ok":true,"pong":true,"req":1e400}"#,
            #"{"op":"ping", "req" : 18446744073709551616 }"#: #"{"ok":true,"pong":true,"req":18446744073709551616}"#,
            #"{"op":"nope","req":[1.50, {"a" : -0}]}"#: #","req":[1.50, {"a" : -0}]}"#,
            #"{"op":"execute","model":"counter","id":"c1","command":{"type":"create"},"req":"A"}"#: #","req":"A"}"#,
            #"{"op":"get","model":"counter","id":"c1","req":1.0E+2}"#: #","req":1.0E+2}"#,
        ]
        for (request, reply) in requests {
            try await client.send(request)
            let line = try #require(try await client.readLine())
            #expect(line.hasSuffix(reply), "\(request) → \(line)")
        }
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    /// Many connections each pipeline a burst of requests before reading anything; every reply
    /// comes back in request order with the right result, with one event loop and with several
    /// (where most requests of a connection go to another loop's shard).
    @Test(arguments: [1, 3]) func pipelinedRequestsFromManyConnectionsGetInOrderReplies(threads: Int) async throws {
        let daemon = try await DaemonProcess(arguments: ["--threads", "\(threads)"])
        let connections = 16
        let burst = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in 0..<connections {
                group.addTask {
                    let client = try await LineClient.connect(daemon.socketPath)
                    var lines = [#"{"op":"execute","model":"counter","id":"own-\#(connection)","command":{"type":"create"},"req":0}"#]
                    for index in 1...burst {
                        let id = index % 2 == 0 ? "own-\(connection)" : "shared"
                        let command = index == 1 && connection == 0 ? "create" : "increment"
                        lines.append(#"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"\#(command)"},"req":\#(index)}"#)
                    }
                    lines.append(#"{"op":"get","model":"counter","id":"own-\#(connection)","req":"last"}"#)
                    try await client.sendRaw(Array(lines.joined(separator: "\n").utf8) + [0x0A])
                    var ownVersion: Int64 = 0
                    for index in 0...burst {
                        let reply = try await client.readReply()
                        #expect(reply["req"] == .integer(Int64(index)), "connection \(connection) reply \(index)")
                        if index % 2 == 0 {
                            let version = try #require(reply["version"]?.integerValue)
                            #expect(version == ownVersion + 1, "own counter versions are consecutive")
                            ownVersion = version
                        } else if !(index == 1 && connection == 0) {
                            #expect(reply["ok"] == true || reply.errorCode == "rejected")
                        }
                    }
                    let last = try await client.readReply()
                    #expect(last["req"] == "last" && last["version"] == .integer(ownVersion))
                    await client.close()
                }
            }
            try await group.waitForAll()
        }
        let client = try await LineClient.connect(daemon.socketPath)
        let shared = try await client.request(line: #"{"op":"get","model":"counter","id":"shared"}"#)
        let stats = try await client.request(line: #"{"op":"stats"}"#)
        let total = try #require(stats["stats"]?["commands"]?.integerValue)
        let sharedVersion = try #require(shared["version"]?.integerValue)
        #expect(total == Int64(connections) * Int64(burst / 2 + 1) + sharedVersion, "every accepted command counted once")
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    /// A client that writes 10,000 requests in one go before it reads any reply gets all 10,000
    /// replies, in order: the daemon keeps reading while the replies wait for the client (they
    /// are far more than the socket's buffers hold, and far less than the reply budget).
    @Test(arguments: [1, 3]) func tenThousandRequestsWrittenBeforeReadingAllGetTheirReplies(threads: Int) async throws {
        let daemon = try await DaemonProcess(arguments: ["--threads", "\(threads)"])
        let setup = try await LineClient.connect(daemon.socketPath)
        #expect(try await setup.request(line: #"{"op":"execute","model":"counter","id":"c1","command":{"type":"create"}}"#)["ok"] == true)
        await setup.close()
        let count = 10_000
        let requests = (0..<count).map { #"{"op":"get","model":"counter","id":"c1","req":\#($0)}"# + "\n" }.joined()
        let replies = try RawSocket.writeAllThenRead(Array(requests.utf8), to: daemon.socketPath, timeoutSeconds: 120)
        let lines = replies.split(separator: 0x0A)
        #expect(lines.count == count)
        let parsed = try lines.map { try JSONParser.parse(Array($0)) }
        #expect(parsed.enumerated().allSatisfy { $0.element["req"] == .integer(Int64($0.offset)) && $0.element["version"] == 1 })
        #expect(await daemon.stop() == 0)
    }
}
