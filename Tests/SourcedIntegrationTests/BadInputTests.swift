import Foundation
import SourcedTestSupport
import SourcedWire
import Testing

@Suite struct BadInputTests {
    /// Every bad line gets its error on the same connection, which stays usable, while another
    /// client is served correctly throughout.
    @Test func everyBadLineGetsItsErrorAndTheDaemonKeepsServing() async throws {
        let daemon = try await DaemonProcess()
        let bystander = try await LineClient.connect(daemon.socketPath)
        _ = try await bystander.request(line: #"{"op":"execute","model":"counter","id":"steady","command":{"type":"create"}}"#)
        let client = try await LineClient.connect(daemon.socketPath)
        let cases: [(line: String, code: String)] = [
            ("{not json", "bad_request"),
            ("[1,2,3]", "bad_request"),
            ("42", "bad_request"),
            ("\"op\"", "bad_request"),
            ("", "bad_request"),
            ("   ", "bad_request"),
            ("{}", "bad_request"),
            (#"{"op":"execute","id":"x","command":{"type":"create"}}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","command":{"type":"create"}}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x"}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","command":{"type":"create"},"commands":[]}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","commands":[]}"#, "bad_request"),
            (#"{"op":"execute","model":"account","id":"x","command":{"type":"deposit"}}"#, "bad_request"),
            (#"{"op":5}"#, "bad_request"),
            (#"{"op":"get","model":"counter","id":5}"#, "bad_request"),
            (#"{"op":"get","model":["counter"],"id":"x"}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","command":"create"}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","commands":{"type":"create"}}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","command":{"type":"create"},"expect":"1"}"#, "bad_request"),
            (#"{"op":"execute","model":"counter","id":"x","command":{"type":"create"},"expect":-1}"#, "bad_request"),
            (#"{"op":"execute","model":"account","id":"x","command":{"type":"deposit","amount":1e400}}"#, "bad_request"),
            (#"{"op":"execute","model":"account","id":"x","command":{"type":"deposit","amount":123456789012345678901234567890}}"#, "bad_request"),
            (#"{"op":"events","model":"counter","id":"x","limit":100000}"#, "bad_request"),
            (String(repeating: "[", count: 100_000), "bad_request"),
            (#"{"op":"drop_tables"}"#, "unknown_op"),
            (#"{"op":"get","model":"Counter","id":"x"}"#, "unknown_model"),
            (#"{"op":"execute","model":"counter","id":"x","command":{"type":"explode"}}"#, "unknown_command"),
            (#"{"op":"execute","model":"counter","id":"x","command":{}}"#, "bad_request"),
            (#"{"op":"get","model":"counter","id":""}"#, "invalid_id"),
            (#"{"op":"get","model":"counter","id":"a\u0000b"}"#, "invalid_id"),
            (#"{"op":"get","model":"counter","id":"line\nbreak"}"#, "invalid_id"),
            (#"{"op":"get","model":"counter","id":"\#(String(repeating: "x", count: 10_000))"}"#, "invalid_id"),
        ]
        for (index, bad) in cases.enumerated() {
            let reply = try await client.request(line: bad.line)
            #expect(reply["ok"] == false && reply.errorCode == bad.code, "case \(index): \(bad.line.prefix(80)) → \(reply)")
            #expect(reply["error"]?["message"]?.stringValue?.isEmpty == false)
            let steady = try await bystander.request(line: #"{"op":"execute","model":"counter","id":"steady","command":{"type":"increment"}}"#)
            #expect(steady["version"] == .integer(Int64(index + 2)), "the bystander is served after case \(index)")
        }
        let garbage = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }.filter { $0 != 0x0A }
        try await client.sendRaw(garbage + [0x0A])
        #expect(try await client.readReply().errorCode == "bad_request")
        try await client.sendRaw([0xC3, 0x28, 0xFF, 0xFE] + Array(#"{"op":"ping"}"#.utf8) + [0x0A])
        #expect(try await client.readReply().errorCode == "bad_request")
        #expect(try await client.request(line: #"{"op":"ping"}"#)["ok"] == true, "the connection survives every bad line")
        await client.close()
        await bystander.close()
        let peak = try daemon.residentMegabytes(peak: true)
        print("peak resident memory, bad-input suite: \(peak) MiB")
        #expect(peak < 200)
        #expect(await daemon.stop() == 0)
    }

    @Test func hostileIdsAreOrdinaryAggregatesInsideTheDataDirectory() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        let ids = ["../x", "../../etc/passwd", "/", ".", "..", "a/b", "~", "LOCK", "ｃ1", "c1"]
        for id in ids {
            let json = String(data: try JSONEncoder().encode(id), encoding: .utf8)!
            let reply = try await client.request(line: #"{"op":"execute","model":"counter","id":\#(json),"command":{"type":"create"}}"#)
            #expect(reply["ok"] == true && reply["id"] == .string(id), "\(id)")
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        let files = daemon.directory.allFiles().filter { $0.hasPrefix("data/") }
        let dataFiles: Set = ["data/LOCK", "data/global.checkpoint", "data/global/00000000000000000001.log"]
        #expect(files.count == ids.count + dataFiles.count)
        #expect(files.allSatisfy { dataFiles.contains($0) || $0.hasPrefix("data/aggregates/counter/") })
    }

    @Test func anOversizedLineGetsTooLargeAndTheConnectionCloses() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"ping"}"#)
        let huge = #"{"op":"ping","req":""# + String(repeating: "x", count: 2 << 20) + #""}"#
        try? await client.send(huge)
        let reply = try await client.readReply()
        #expect(reply.errorCode == "too_large")
        #expect(try await client.readLine() == nil, "the connection is closed after too_large")
        await client.close()
        let other = try await LineClient.connect(daemon.socketPath)
        #expect(try await other.request(line: #"{"op":"ping"}"#)["ok"] == true)
        await other.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func aLastLineWithoutNewlineIsAnsweredWithAnErrorAndNothingRuns() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        try await client.send(#"{"op":"ping","req":1}"#)
        try await client.sendRaw(Array(#"{"op":"execute","model":"counter","id":"half","command":{"type":"create"}}"#.utf8))
        try await client.finishSending()
        #expect(try await client.readReply()["req"] == 1)
        #expect(try await client.readReply().errorCode == "bad_request")
        #expect(try await client.readLine() == nil)
        await client.close()
        let check = try await LineClient.connect(daemon.socketPath)
        #expect(try await check.request(line: #"{"op":"get","model":"counter","id":"half"}"#)["version"] == 0)
        await check.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func aClientThatVanishesMidPipelineLeavesOnlyWholeCommands() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"v","command":{"type":"create"}}"#)
        let burst = (0..<500).map { _ in #"{"op":"execute","model":"counter","id":"v","command":{"type":"increment"}}"# }
        try await client.sendRaw(Array(burst.joined(separator: "\n").utf8) + [0x0A])
        await client.close()
        let check = try await LineClient.connect(daemon.socketPath)
        try await waitUntil {
            let stats = try await check.request(line: #"{"op":"stats"}"#)
            return stats["stats"]?["connections"] == 1
        }
        let state = try await check.request(line: #"{"op":"get","model":"counter","id":"v"}"#)
        let version = try #require(state["version"]?.integerValue)
        #expect(state["state"]?["count"] == .integer(version - 1), "count and version agree: no half-applied command")
        await check.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func connectionsBeyondTheLimitAreRefusedClearly() async throws {
        let daemon = try await DaemonProcess(arguments: ["--max-connections", "2"])
        let first = try await LineClient.connect(daemon.socketPath)
        let second = try await LineClient.connect(daemon.socketPath)
        _ = try await first.request(line: #"{"op":"ping"}"#)
        _ = try await second.request(line: #"{"op":"ping"}"#)
        let third = try await LineClient.connect(daemon.socketPath)
        let refused = try await third.readReply()
        #expect(refused.errorCode == "unavailable")
        #expect(refused["error"]?["message"]?.stringValue?.contains("too many connections") == true)
        #expect(try await third.readLine() == nil)
        await first.close()
        try await waitUntil { await LineClient.answersPing(at: daemon.socketPath) }
        await second.close()
        #expect(await daemon.stop() == 0)
    }
}

@Suite struct SlowReaderTests {
    /// Clients that pipeline requests with large replies and never read them hold a bounded
    /// amount of the daemon's memory: it stops reading from them instead.
    @Test func clientsThatNeverReadLargeRepliesHoldBoundedMemory() async throws {
        let daemon = try await DaemonProcess()
        let owner = String(repeating: "x", count: 900_000)
        let setup = try await LineClient.connect(daemon.socketPath)
        #expect(try await setup.request(line: #"{"op":"execute","model":"account","id":"big","command":{"type":"open","owner":"\#(owner)"}}"#)["ok"] == true)
        let baseline = try daemon.residentMegabytes()
        var hogs: [LineClient] = []
        let get = Array((String(repeating: #"{"op":"get","model":"account","id":"big"}"# + "\n", count: 400)).utf8)
        for _ in 0..<3 {
            let hog = try await LineClient.connect(daemon.socketPath)
            try await hog.sendRaw(get)
            hogs.append(hog)
        }
        var peak = baseline
        for _ in 0..<20 {
            #expect(try await setup.request(line: #"{"op":"get","model":"account","id":"big"}"#)["version"] == 1)
            peak = max(peak, try daemon.residentMegabytes())
        }
        #expect(peak - baseline < 150, "resident memory grew from \(baseline) MB to \(peak) MB")
        print("peak resident memory, slow readers: \(try daemon.residentMegabytes(peak: true)) MiB")
        for hog in hogs { await hog.close() }
        await setup.close()
        #expect(await daemon.stop() == 0)
    }
}

@Suite struct AccessTests {
    /// Sends a ping as another user, through socat, and returns the reply line.
    func ping(as uid: Int, group gid: Int, _ socket: String) async throws -> String {
        let run = try await ToolRun.run(
            executable: "/usr/bin/setpriv",
            ["--reuid", "\(uid)", "--regid", "\(gid)", "--clear-groups", "/usr/bin/socat", "-t2", "-", "UNIX-CONNECT:\(socket)"],
            input: #"{"op":"ping"}"# + "\n"
        )
        return run.output + run.errors
    }

    @Test func theAllowListRefusesOtherUsersClearly() async throws {
        let directory = TemporaryDirectory("sd")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let daemon = try await DaemonProcess(in: directory, arguments: ["--allow-uid", "4100", "--allow-gid", "4242"])
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: daemon.socketPath)
        let refused = try await ping(as: 65534, group: 65534, daemon.socketPath)
        #expect(refused.contains(#""code":"forbidden""#) && refused.contains("uid 65534"), "\(refused)")
        #expect(try await ping(as: 4100, group: 65534, daemon.socketPath).contains(#""pong":true"#))
        #expect(try await ping(as: 65534, group: 4242, daemon.socketPath).contains(#""pong":true"#))
        #expect(await LineClient.answersPing(at: daemon.socketPath), "root and the daemon's own user always may")
        #expect(daemon.log.contains("connection refused"))
        #expect(await daemon.stop() == 0)
    }

    /// A refused user reconnecting in a loop costs the log one line a second, not one per attempt.
    @Test func refusalsOfTheAllowListAreRateLimitedInTheLog() async throws {
        let directory = TemporaryDirectory("sd")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let daemon = try await DaemonProcess(in: directory, arguments: ["--allow-uid", "4100"])
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: daemon.socketPath)
        let started = ContinuousClock.now
        let script = "for i in $(seq 40); do echo '{\"op\":\"ping\"}' | /usr/bin/socat -t2 - UNIX-CONNECT:\(daemon.socketPath); done"
        let run = try await ToolRun.run(
            executable: "/usr/bin/setpriv",
            ["--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/sh", "-c", script],
            input: ""
        )
        let elapsed = started.duration(to: .now)
        #expect(run.output.components(separatedBy: #""code":"forbidden""#).count - 1 == 40, "every attempt is answered")
        let client = try await LineClient.connect(daemon.socketPath)
        let stats = try await client.request(line: #"{"op":"stats"}"#)["stats"]
        #expect((stats?["connections_refused"]?.integerValue ?? 0) >= 40, "and counted")
        await client.close()
        let logged = daemon.log.components(separatedBy: "connection refused").count - 1
        #expect(logged >= 1 && logged <= Int(elapsed.components.seconds) + 2, "\(logged) log lines in \(elapsed)")
        #expect(await daemon.stop() == 0)
    }

    @Test func withoutAnAllowListTheSocketModeDecides() async throws {
        let directory = TemporaryDirectory("sd")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let daemon = try await DaemonProcess(in: directory)
        let denied = try await ping(as: 65534, group: 65534, daemon.socketPath)
        #expect(denied.contains("Permission denied"), "mode 0660 keeps other users out: \(denied)")
        #expect(await daemon.stop() == 0)
    }

    /// A symlink planted in the data directory is refused, never followed.
    @Test func aSymlinkPlantedAsALogIsNeverFollowed() async throws {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(in: directory)
        let target = directory.file("target")
        try write(Array("precious".utf8), to: target)
        try FileManager.default.createSymbolicLink(atPath: directory.file("data/aggregates/counter/evil.log"), withDestinationPath: target)
        let client = try await LineClient.connect(daemon.socketPath)
        let reply = try await client.request(line: #"{"op":"execute","model":"counter","id":"evil","command":{"type":"create"}}"#)
        #expect(reply.errorCode == "unavailable" && reply["error"]?["message"]?.stringValue?.contains("evil.log") == true, "\(reply)")
        #expect(try contents(of: target) == Array("precious".utf8))
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"fine","command":{"type":"create"}}"#)["ok"] == true)
        await client.close()
        #expect(await daemon.stop() == 0)
    }
}

@Suite struct ConnectionChurnTests {
    /// Thousands of connections opened and dropped, many mid-request or mid-line, while a
    /// well-behaved client is served; afterwards no connection is left and memory is bounded.
    @Test func thousandsOfDroppedConnectionsLeaveNothingBehind() async throws {
        let daemon = try await DaemonProcess()
        let steady = try await LineClient.connect(daemon.socketPath)
        _ = try await steady.request(line: #"{"op":"execute","model":"counter","id":"steady","command":{"type":"create"}}"#)
        let before = try daemon.residentMegabytes()
        let socket = daemon.socketPath
        let churn = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in 0..<8 {
                    group.addTask {
                        for index in 0..<250 {
                            // A flood may fill the listen backlog: the kernel then says EAGAIN and
                            // the client tries again, as a well-behaved client does.
                            var connected: LineClient?
                            for _ in 0..<10_000 where connected == nil {
                                connected = try? await LineClient.connect(socket)
                                if connected == nil { await Task.yield() }
                            }
                            let client = try #require(connected, "the listen backlog never drained")
                            switch index % 3 {
                            case 0: try await client.sendRaw(Array(#"{"op":"execute","model":"counter","id":"churn-\#(batch)","command":{"type":"#.utf8))
                            case 1: try await client.send(#"{"op":"ping"}"#)
                            default: break
                            }
                            await client.close()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        for expected in 2...51 {
            let reply = try await steady.request(line: #"{"op":"execute","model":"counter","id":"steady","command":{"type":"increment"}}"#)
            #expect(reply["version"] == .integer(Int64(expected)), "the steady client is served throughout")
        }
        try await churn.value
        // Every churned connection was accepted and is gone again. (One open connection alone
        // does not say so: connections still in the listen backlog are not counted yet.)
        try await waitUntil {
            let stats = try await steady.request(line: #"{"op":"stats"}"#)["stats"]
            return stats?["connections"] == 1 && (stats?["connections_accepted"]?.integerValue ?? 0) >= 2001
        }
        #expect(try daemon.residentMegabytes() - before < 100)
        print("peak resident memory, connection churn: \(try daemon.residentMegabytes(peak: true)) MiB")
        await steady.close()
        #expect(await daemon.stop() == 0)
    }
}

@Suite struct SlowClientTests {
    /// A client that starts a line and never finishes it is answered and closed after
    /// --line-timeout; an idle client without a partial line is left alone.
    @Test func aLineThatNeverEndsIsAnsweredAndClosed() async throws {
        let daemon = try await DaemonProcess(arguments: ["--line-timeout", "0.5"])
        let idle = try await LineClient.connect(daemon.socketPath)
        _ = try await idle.request(line: #"{"op":"ping"}"#)
        let slow = try await LineClient.connect(daemon.socketPath)
        try await slow.sendRaw(Array(#"{"op":"ping","req":"#.utf8))
        let reply = try await slow.readReply()
        #expect(reply.errorCode == "bad_request" && reply["error"]?["message"]?.stringValue?.contains("incomplete") == true)
        #expect(try await slow.readLine() == nil, "and the connection is closed")
        #expect(try await idle.request(line: #"{"op":"ping"}"#)["ok"] == true, "an idle client stays connected")
        await slow.close()
        await idle.close()
        #expect(await daemon.stop() == 0)
    }
}
