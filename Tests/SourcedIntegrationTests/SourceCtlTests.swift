import Foundation
import SourcedClient
import SourcedTestSupport
import SourcedWire
import Testing

/// The real `sourcectl` against a real `sourced`, subcommand by subcommand, with exit statuses.
@Suite struct SourceCtlTests {
    func ctl(_ daemon: DaemonProcess, _ arguments: String...) async throws -> ToolRun {
        try await ToolRun.run("sourcectl", arguments, environment: ["SOURCED_SOCKET": daemon.socketPath, "NO_COLOR": "1"])
    }

    @Test func execRunsCommandsAndChainsWithTypedFields() async throws {
        let daemon = try await DaemonProcess()
        let opened = try await ctl(daemon, "exec", "account", "a1", "open", "owner=ada", "+", "deposit", "amount=100")
        #expect(opened.status == 0, "\(opened.errors)")
        #expect(opened.output.contains("account a1  version 2") && opened.output.contains(#"{"amount":100,"balance":100}"#))
        let json = try await ctl(daemon, "exec", "--json", "account", "a1", "withdraw", "amount=30", "--expect", "2")
        #expect(json.status == 0)
        let reply = try SourcedConnection.decode(json.output.trimmingCharacters(in: .newlines))
        #expect(reply["version"] == 3 && reply["state"]?["balance"] == 70)
        let raw = try await ctl(daemon, "exec", "account", "a2", "open", #"owner:="007""#)
        #expect(raw.status == 0 && raw.output.contains(#""owner":"007""#), "name:=JSON keeps a string a string")
        #expect(await daemon.stop() == 0)
    }

    @Test func domainErrorsExitOneAndUsageErrorsExitTwo() async throws {
        let daemon = try await DaemonProcess()
        _ = try await ctl(daemon, "exec", "account", "a1", "open", "owner=ada")
        let rejected = try await ctl(daemon, "exec", "account", "a1", "withdraw", "amount=5")
        #expect(rejected.status == 1 && rejected.errors.contains("rejected: insufficient funds: balance 0, requested 5"))
        let wrongVersion = try await ctl(daemon, "exec", "account", "a1", "deposit", "amount=5", "--expect", "9")
        #expect(wrongVersion.status == 1 && wrongVersion.errors.contains("wrong_version"))
        let unknownModel = try await ctl(daemon, "get", "ledger", "x")
        #expect(unknownModel.status == 2 && unknownModel.errors.contains("unknown model \"ledger\""))
        let unknownCommand = try await ctl(daemon, "exec", "counter", "c", "explode")
        #expect(unknownCommand.status == 2 && unknownCommand.errors.contains("unknown_command"))
        let missingField = try await ctl(daemon, "exec", "account", "a1", "deposit")
        #expect(missingField.status == 2 && missingField.errors.contains("amount"))
        let noCommand = try await ctl(daemon, "exec", "counter", "c1")
        #expect(noCommand.status == 2 && noCommand.errors.contains("each command starts with its type"))
        let badField = try await ctl(daemon, "exec", "counter", "c1", "create", "oops")
        #expect(badField.status == 2 && badField.errors.contains("name=value"))
        let badOption = try await ctl(daemon, "events", "counter", "c1", "--limit", "many")
        #expect(badOption.status == 2)
        let jsonFailure = try await ctl(daemon, "exec", "--json", "account", "a1", "withdraw", "amount=5")
        #expect(jsonFailure.status == 1 && jsonFailure.output.contains(#""code":"rejected""#), "--json prints the failed reply exactly")
        #expect(await daemon.stop() == 0)
    }

    @Test func getEventsModelsStatsAndPing() async throws {
        let daemon = try await DaemonProcess()
        _ = try await ctl(daemon, "exec", "counter", "c1", "create", "+", "increment", "+", "increment")
        let got = try await ctl(daemon, "get", "counter", "c1")
        #expect(got.status == 0 && got.output.contains("version 3") && got.output.contains(#"{"count":2}"#))
        let events = try await ctl(daemon, "events", "counter", "c1", "--from", "1", "--limit", "1")
        let rows = events.output.split(separator: "\n")
        #expect(events.status == 0 && rows.count == 2 && rows[1].hasPrefix("2 ") && rows[1].contains("incremented"))
        #expect(events.errors.contains("versions up to 2 of 3 shown; next page: sourcectl events counter c1 --from 2"), "a page says more follow")
        let lastPage = try await ctl(daemon, "events", "counter", "c1", "--from", "2")
        #expect(lastPage.status == 0 && !lastPage.errors.contains("next page"), "the last page does not")
        let eventsJSON = try await ctl(daemon, "events", "--json", "counter", "c1")
        #expect(try SourcedConnection.decode(eventsJSON.output)["events"]?.arrayValue?.count == 3)
        let models = try await ctl(daemon, "models")
        #expect(models.status == 0 && models.output.contains("deposit amount=<integer>"))
        let stats = try await ctl(daemon, "stats")
        #expect(stats.status == 0 && stats.output.contains("live_aggregates") && stats.output.contains("sync"))
        let ping = try await ctl(daemon, "ping")
        #expect(ping.status == 0 && ping.output.hasPrefix("pong from \(daemon.socketPath)"))
        #expect(await daemon.stop() == 0)
    }

    /// Both binaries say their version and the commit they were built from.
    @Test func bothBinariesPrintTheirVersionAndCommit() async throws {
        for tool in ["sourced", "sourcectl"] {
            let run = try await ToolRun.run(tool, ["--version"])
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("0.5.0 (commit ") && run.output.contains(")") && !run.output.contains("commit )"), "\(tool): \(run.output)")
        }
    }

    /// `query` asks a read model with typed parameters; an unknown one is a usage error.
    @Test func queryAsksAProjection() async throws {
        let daemon = try await DaemonProcess(arguments: ["--projection", "account-balances"])
        _ = try await ctl(daemon, "exec", "account", "a1", "open", "owner=ada", "+", "deposit", "amount=130")
        _ = try await ctl(daemon, "exec", "account", "a2", "open", "owner=bob", "+", "deposit", "amount=20")
        try await waitUntil {
            let run = try await ctl(daemon, "query", "--json", "account-balances", "above=100")
            return run.output.contains(#""accounts":[{"id":"a1","balance":130}]"#)
        }
        let table = try await ctl(daemon, "query", "account-balances", "above=100")
        #expect(table.status == 0 && table.output.contains("matching  1"), "\(table.output)")
        let unknown = try await ctl(daemon, "query", "nope")
        #expect(unknown.status == 2 && unknown.errors.contains("unknown_projection"))
        #expect(await daemon.stop() == 0)
    }

    /// `--socket` and `--json` may come before the subcommand.
    @Test func connectionOptionsMayPrecedeTheSubcommand() async throws {
        let daemon = try await DaemonProcess()
        let ping = try await ToolRun.run("sourcectl", ["--socket", daemon.socketPath, "ping"], environment: ["NO_COLOR": "1"])
        #expect(ping.status == 0 && ping.output.contains("pong"), "\(ping.errors)")
        let get = try await ToolRun.run("sourcectl", ["--json", "--socket=\(daemon.socketPath)", "get", "counter", "x"])
        #expect(get.status == 0 && get.output.contains(#""version":0"#), "\(get.errors)")
        #expect(await daemon.stop() == 0)
    }

    /// `exec` sends a command id; the same id again is answered as a duplicate, not run twice.
    @Test func execSendsACommandIDAndARepeatIsADuplicate() async throws {
        let daemon = try await DaemonProcess()
        _ = try await ctl(daemon, "exec", "counter", "c1", "create")
        let first = try await ctl(daemon, "exec", "counter", "c1", "increment", "--command-id", "k-1")
        let again = try await ctl(daemon, "exec", "counter", "c1", "increment", "--command-id", "k-1")
        #expect(first.status == 0 && !first.output.contains("duplicate"))
        #expect(again.status == 0 && again.output.contains("version 2 (duplicate: it had run before)"), "\(again.output)")
        let other = try await ctl(daemon, "exec", "counter", "c1", "create", "--command-id", "k-1")
        #expect(other.status == 1 && other.errors.contains("command_id_reused"))
        let state = try await ctl(daemon, "get", "--json", "counter", "c1")
        #expect(state.output.contains(#""version":2"#), "one increment")
        #expect(await daemon.stop() == 0)
    }

    /// `raw` with piped input sends each line as it is, pipelined, and prints each reply as sent:
    /// 300 lines (beyond its window of 64) all answered, in order.
    @Test func rawSendsPipedLinesAsTheyAreAndPrintsRepliesAsSent() async throws {
        let daemon = try await DaemonProcess()
        let sourcectl = DaemonProcess.executable("sourcectl")
        let input = """
            {"op":"execute","model":"counter","id":"r1","command":{"type":"create"}}

            {"op":"get", "model":"counter","id":"r1","req":1e400}
            not json

            """ + String(repeating: "{\"op\":\"ping\"}\n", count: 300)
        let run = try await ToolRun.run(executable: sourcectl, ["raw", "--socket", daemon.socketPath], input: input)
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 303, "one reply per line that is not blank")
        #expect(lines.first?.hasPrefix(#"{"ok":true,"model":"counter","id":"r1","version":1,"#) == true, "\(run.output.prefix(300))")
        #expect(lines.dropFirst().first == #"{"ok":true,"model":"counter","id":"r1","version":1,"state":{"count":0},"req":1e400}"#)
        #expect(lines.dropFirst(2).first?.contains(#""code":"bad_request""#) == true)
        #expect(lines.dropFirst(3).allSatisfy { $0 == #"{"ok":true,"pong":true}"# })

        let nothing = try await ToolRun.run(executable: sourcectl, ["raw", "--socket", daemon.socketPath], input: "")
        #expect(nothing.status == 0 && nothing.output.isEmpty, "\(nothing.errors)")
        #expect(await daemon.stop() == 0)
        let gone = try await ToolRun.run(executable: sourcectl, ["raw", "--socket", daemon.socketPath], input: #"{"op":"ping"}"# + "\n")
        #expect(gone.status == 3 && gone.errors.contains("is sourced running?"), "\(gone.errors)")
    }

    /// With no subcommand and no terminal, sourcectl prints its help, as before the prompt existed.
    @Test func noSubcommandWithoutATerminalPrintsTheHelp() async throws {
        let run = try await ToolRun.run(executable: DaemonProcess.executable("sourcectl"), [], input: "get counter c1\n")
        #expect(run.status == 0 && run.output.contains("USAGE: sourcectl <subcommand>") && run.output.contains("raw"), "\(run.output)")
    }

    @Test func aMissingDaemonExitsThreeWithAdvice() async throws {
        let nowhere = TemporaryDirectory("none").file("s.sock")
        let run = try await ToolRun.run("sourcectl", ["ping"], environment: ["SOURCED_SOCKET": nowhere])
        #expect(run.status == 3)
        #expect(run.errors.contains("is sourced running? socket \(nowhere) not found"))
    }

    @Test func findsTheDefaultDaemonWithNoFlags() async throws {
        let home = TemporaryDirectory("h")
        let daemon = try await DaemonProcess(in: home, environment: ["HOME": home.path], defaultLocations: true, waitUntilReady: false)
        try await waitUntil { FileManager.default.fileExists(atPath: home.file(".local/state/sourced/sourced.sock")) }
        let ping = try await ToolRun.run("sourcectl", ["ping"], environment: ["HOME": home.path])
        #expect(ping.status == 0, "\(ping.errors)")
        #expect(await daemon.stop() == 0)
    }

    @Test func benchMeasuresAndVerifiesItsLoad() async throws {
        let daemon = try await DaemonProcess()
        for model in ["counter", "account"] {
            let run = try await ctl(
                daemon, "bench", "--json", "--model", model, "--clients", "4", "--aggregates", "20",
                "--distribution", "zipf", "--requests", "400", "--pipeline", "4"
            )
            #expect(run.status == 0, "\(run.errors)")
            let report = try SourcedConnection.decode(run.output.trimmingCharacters(in: .newlines))
            #expect(report["commands"] == 400 && report["verified"] == true && report["errors"] == [:])
            #expect(report["events"] == .integer(model == "counter" ? 400 : 800))
            #expect(report["protocol"] == "sourced" && report["client_cpu_us_per_request"] != nil)
            for percentile in ["p50", "p90", "p99", "p99.9", "max"] {
                #expect(report["latency_ms"]?[percentile] != nil, "\(percentile)")
            }
        }
        let text = try await ctl(daemon, "bench", "--clients", "2", "--aggregates", "5", "--duration", "0.5")
        #expect(text.status == 0 && text.output.contains("verified  ok: all 5 aggregates match"))
        #expect(!text.output.contains("\u{1B}["), "no colour when not on a terminal")
        #expect(await daemon.stop() == 0)
    }

    @Test(.enabled(if: RedisProcess.isInstalled, "needs redis-server (apt-get install redis-server)"))
    func benchDrivesRedisWithTheSameLoop() async throws {
        let redis = try await RedisProcess()
        for distribution in ["uniform", "zipf"] {
            let run = try await ToolRun.run("sourcectl", [
                "bench", "--protocol", "redis", "--socket", redis.socketPath, "--json", "--clients", "4",
                "--aggregates", "20", "--distribution", distribution, "--requests", "400", "--pipeline", "4",
            ])
            #expect(run.status == 0, "\(run.errors)")
            let report = try SourcedConnection.decode(run.output.trimmingCharacters(in: .newlines))
            #expect(report["protocol"] == "redis" && report["commands"] == 400 && report["errors"] == [:])
            #expect(report["verified"] == true && report["client_cpu_us_per_request"] != nil)
        }
        let text = try await ToolRun.run("sourcectl", [
            "bench", "--protocol", "redis", "--socket", redis.socketPath, "--clients", "2", "--aggregates", "1", "--duration", "0.5",
        ])
        #expect(text.status == 0, "\(text.errors)")
        #expect(text.output.contains("ok: the LLEN of every list (1) grew by") && text.output.contains("µs of CPU per request"))
    }

    @Test func benchWithRedisProtocolNeedsARedisSocket() async throws {
        let daemon = try await DaemonProcess()
        let noSocket = try await ctl(daemon, "bench", "--protocol", "redis", "--requests", "10")
        #expect(noSocket.status == 2 && noSocket.errors.contains("--protocol redis needs --socket"))
        let account = try await ctl(daemon, "bench", "--protocol", "redis", "--socket", daemon.socketPath, "--model", "account")
        #expect(account.status == 2 && account.errors.contains("RPUSH only"))
        let notRedis = try await ctl(daemon, "bench", "--protocol", "redis", "--socket", daemon.socketPath, "--requests", "10")
        #expect(notRedis.status == 3 && notRedis.errors.contains("is it a Redis server?"), "\(notRedis.errors)")
        let missing = try await ctl(daemon, "bench", "--protocol", "redis", "--socket", daemon.directory.file("none.sock"), "--requests", "10")
        #expect(missing.status == 3 && missing.errors.contains("is redis-server running there?"), "\(missing.errors)")
        #expect(await daemon.stop() == 0)
    }

    @Test func printsCompletionScripts() async throws {
        let bash = try await ToolRun.run("sourcectl", ["--generate-completion-script", "bash"])
        #expect(bash.status == 0 && bash.output.contains("sourcectl"))
    }
}

@Suite struct WatchTests {
    @Test func watchPrintsPastAndLiveEventsAndRejectsAFuturePosition() async throws {
        let daemon = try await DaemonProcess()
        let environment = ["SOURCED_SOCKET": daemon.socketPath, "NO_COLOR": "1"]
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "w1", "create"], environment: environment)
        let output = daemon.directory.file("watch.out")
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: DaemonProcess.executable("sourcectl"))
        watch.arguments = ["watch", "--from", "0", "--model", "counter"]
        watch.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        watch.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        func printed() -> [Substring] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
        }
        try await waitUntil { printed().count == 1 }
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "w1", "increment"], environment: environment)
        try await waitUntil { printed().count == 2 }
        #expect(printed() == ["1  counter/w1  v1  created  {}", #"2  counter/w1  v2  incremented  {"count":1}"#])
        watch.terminate()
        let future = try await ToolRun.run("sourcectl", ["watch", "--from", "99"], environment: environment)
        #expect(future.status == 2 && future.errors.contains("beyond the newest position"))
        #expect(await daemon.stop() == 0)
    }

    /// A watcher whose daemon stops says so, with the position to resume from, and exits 3.
    @Test func watchSaysWhenTheDaemonStops() async throws {
        let daemon = try await DaemonProcess()
        let environment = ["SOURCED_SOCKET": daemon.socketPath, "NO_COLOR": "1"]
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "w1", "create"], environment: environment)
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "w1", "increment"], environment: environment)
        let output = daemon.directory.file("watch.out")
        let errors = daemon.directory.file("watch.err")
        for file in [output, errors] { _ = FileManager.default.createFile(atPath: file, contents: nil) }
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: DaemonProcess.executable("sourcectl"))
        watch.arguments = ["watch", "--from", "0"]
        watch.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        watch.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        watch.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        try watch.run()
        try await waitUntil { ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").count == 2 }
        #expect(await daemon.stop() == 0)
        try await waitUntil { !watch.isRunning }
        #expect(watch.terminationStatus == 3)
        let message = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        #expect(message.contains("the daemon ended the stream") && message.contains("resume with --from 2"), "\(message)")
    }
}

@Suite struct MonitorCommandTests {
    /// `sourcectl monitor` prints other clients' requests with their outcomes, and exits 3 with a
    /// message when the daemon stops.
    @Test func monitorPrintsRequestsAndSaysWhenTheDaemonStops() async throws {
        let daemon = try await DaemonProcess()
        let environment = ["SOURCED_SOCKET": daemon.socketPath, "NO_COLOR": "1"]
        let output = daemon.directory.file("monitor.out")
        let errors = daemon.directory.file("monitor.err")
        for file in [output, errors] { _ = FileManager.default.createFile(atPath: file, contents: nil) }
        let monitor = Process()
        monitor.executableURL = URL(fileURLWithPath: DaemonProcess.executable("sourcectl"))
        monitor.arguments = ["monitor"]
        monitor.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        monitor.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        monitor.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        try monitor.run()
        let client = try await LineClient.connect(daemon.socketPath)
        try await waitUntil { (try? await client.request(line: #"{"op":"stats"}"#))?["stats"]?["monitors"] == 1 }
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "m1", "create"], environment: environment)
        _ = try await ToolRun.run("sourcectl", ["exec", "counter", "m1", "create"], environment: environment)
        await client.close()
        func printed() -> [Substring] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
        }
        try await waitUntil { printed().contains { $0.contains("execute counter/m1 rejected") } }
        #expect(printed().contains { $0.contains("execute counter/m1 ok") && $0.hasSuffix(" µs") })
        #expect(await daemon.stop() == 0)
        try await waitUntil { !monitor.isRunning }
        #expect(monitor.terminationStatus == 3)
        let message = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        #expect(message.contains("the daemon ended the monitor"), "\(message)")
    }
}
