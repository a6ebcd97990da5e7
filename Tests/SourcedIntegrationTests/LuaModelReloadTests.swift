import Foundation
import Glibc
import SourcedJSON
import SourcedTestSupport
import Testing

/// `models` with `"reload": true`, `sourcectl models reload` and SIGHUP: the models directory read
/// again while the daemon serves, all or nothing.
@Suite struct LuaModelReloadTests {
    /// A `tally` model: `add` records `added` with `step`; `evolve` adds `n * weight` to the total.
    static func tally(name: String = "tally", step: Int, weight: Int) -> String {
        """
        return {
            name = "\(name)",
            state_version = 1,
            commands = { { type = "add", summary = "Adds a step." } },
            decide = function(state, command) return { { type = "added", n = \(step) } } end,
            evolve = function(state, event)
                return { total = (state and state.total or 0) + event.n * \(weight) }
            end,
        }
        """
    }

    static func write(_ source: String, _ file: String, in directory: TemporaryDirectory) throws {
        try source.write(toFile: directory.file(file), atomically: true, encoding: .utf8)
    }

    static let add = #"{"op":"execute","model":"tally","id":"t","command":{"type":"add"}}"#
    static let get = #"{"op":"get","model":"tally","id":"t"}"#
    static let reload = #"{"op":"models","reload":true}"#

    /// A daemon serving a directory with `tally.lua` (step 1, weight 1) and `others`, by file
    /// name, and a client that has added one step to tally `t`.
    static func started(with others: [String: String] = [:]) async throws -> (TemporaryDirectory, DaemonProcess, LineClient) {
        let directory = TemporaryDirectory("lua-reload")
        try write(tally(step: 1, weight: 1), "tally.lua", in: directory)
        for (file, source) in others {
            try write(source, file, in: directory)
        }
        let daemon = try await DaemonProcess(arguments: ["--models-dir", directory.path])
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: add)["events"] == [["type": "added", "n": 1]])
        return (directory, daemon, client)
    }

    @Test func aChangedModelServesItsLiveAggregatesUnderTheNewCode() async throws {
        let (directory, daemon, client) = try await Self.started(with: ["steady.lua": Self.tally(name: "steady", step: 1, weight: 1)])

        try Self.write(Self.tally(step: 10, weight: 2), "tally.lua", in: directory)
        let reloaded = try await client.request(line: Self.reload)
        #expect(reloaded["ok"] == true)
        #expect(reloaded["changed"] == ["tally"] && reloaded["unchanged"] == ["steady"])
        #expect(reloaded["added"] == [] && reloaded["removed"] == [])
        // The live aggregate was folded again under the new evolve: its one event now counts twice.
        #expect(try await client.request(line: Self.get)["state"] == ["total": 2])
        #expect(try await client.request(line: Self.add)["events"] == [["type": "added", "n": 10]])
        #expect(try await client.request(line: Self.get)["state"] == ["total": 22])

        // An evolve that now fails leaves the aggregate answering model_failed, its log as it was.
        try Self.write(Self.tally(step: 10, weight: 2).replacingOccurrences(of: "return { total", with: "error(\"no more\") return { total"), "tally.lua", in: directory)
        #expect(try await client.request(line: Self.reload)["changed"] == ["tally"])
        let failed = try await client.request(line: Self.add)
        #expect(failed["error"]?["code"] == "model_failed", "\(failed)")
        try Self.write(Self.tally(step: 10, weight: 2), "tally.lua", in: directory)
        #expect(try await client.request(line: Self.reload)["changed"] == ["tally"])
        let fixed = try await client.request(line: Self.get)
        #expect(fixed["version"] == 2 && fixed["state"] == ["total": 22])
        #expect(await daemon.stop() == 0)
    }

    @Test func aFileThatDoesNotLoadRefusesTheWholeReload() async throws {
        let (directory, daemon, client) = try await Self.started()

        // The changed tally loads, the new file does not: neither is served.
        try Self.write(Self.tally(step: 10, weight: 2), "tally.lua", in: directory)
        try Self.write("return {\n    name = \"broken\",\n    commands = {\n", "broken.lua", in: directory)
        let refused = try await client.request(line: Self.reload)
        #expect(refused["error"]?["code"] == "reload_refused")
        let message = refused["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("\(directory.path)/broken.lua:") && message.contains("expected"), "\(message)")
        #expect(try await client.request(line: Self.add)["events"] == [["type": "added", "n": 1]])
        #expect(try await client.request(line: Self.get)["state"] == ["total": 2])
        #expect(try await client.request(line: #"{"op":"get","model":"broken","id":"b"}"#)["error"]?["code"] == "unknown_model")
        #expect(daemon.log.contains("models not reloaded"))
        #expect(await daemon.stop() == 0)
    }

    @Test func aNameClaimedTwiceIsRefused() async throws {
        let (directory, daemon, client) = try await Self.started()

        try Self.write(Self.tally(step: 5, weight: 1), "twin.lua", in: directory)
        let twin = try await client.request(line: Self.reload)
        #expect(twin["error"]?["code"] == "reload_refused")
        #expect(twin["error"]?["message"]?.stringValue?.contains("claimed by \(directory.path)/tally.lua and \(directory.path)/twin.lua") == true)
        try FileManager.default.removeItem(atPath: directory.file("twin.lua"))

        try Self.write(Self.tally(name: "counter", step: 5, weight: 1), "mine.lua", in: directory)
        let builtIn = try await client.request(line: Self.reload)
        #expect(builtIn["error"]?["message"]?.stringValue?.contains("claimed by the built-in model and \(directory.path)/mine.lua") == true)
        #expect(try await client.request(line: Self.add)["events"] == [["type": "added", "n": 1]])
        #expect(await daemon.stop() == 0)
    }

    @Test func aNewFileIsServedAndARemovedOneKeepsItsAggregatesOnDisk() async throws {
        let (directory, daemon, client) = try await Self.started()

        try Self.write(Self.tally(name: "fresh", step: 3, weight: 1), "fresh.lua", in: directory)
        try FileManager.default.removeItem(atPath: directory.file("tally.lua"))
        let reload = try await ToolRun.run("sourcectl", ["--socket", daemon.socketPath, "models", "reload"], environment: ["NO_COLOR": "1"])
        #expect(reload.status == 0)
        let lines = reload.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("added") && $0.hasSuffix("fresh") }, "\(reload.output)")
        #expect(lines.contains { $0.hasPrefix("removed") && $0.hasSuffix("tally") }, "\(reload.output)")
        let fresh = try await client.request(line: #"{"op":"execute","model":"fresh","id":"f","command":{"type":"add"}}"#)
        #expect(fresh["events"] == [["type": "added", "n": 3]])
        #expect(try await client.request(line: Self.add)["error"]?["code"] == "unknown_model")

        // Back under its old name, the model finds its aggregate as it was.
        try Self.write(Self.tally(step: 1, weight: 1), "tally.lua", in: directory)
        #expect(try await client.request(line: Self.reload)["added"] == ["tally"])
        #expect(try await client.request(line: Self.get)["state"] == ["total": 1])
        #expect(await daemon.stop() == 0)
    }

    @Test func sighupReloadsTheModelsToo() async throws {
        let (directory, daemon, client) = try await Self.started()

        try Self.write(Self.tally(step: 10, weight: 2), "tally.lua", in: directory)
        try Self.write(Self.tally(name: "fresh", step: 3, weight: 1), "fresh.lua", in: directory)
        Glibc.kill(daemon.pid, SIGHUP)
        try await waitUntil { daemon.log.contains("models reloaded") }
        #expect(daemon.log.contains("models reloaded: added: fresh; changed: tally; removed: none; unchanged: none"), "\(daemon.log)")
        #expect(try await client.request(line: Self.add)["events"] == [["type": "added", "n": 10]])
        #expect(try await client.request(line: Self.get)["state"] == ["total": 22])
        #expect(try await client.request(line: #"{"op":"get","model":"fresh","id":"f"}"#)["version"] == 0)

        try Self.write("return 42", "tally.lua", in: directory)
        Glibc.kill(daemon.pid, SIGHUP)
        try await waitUntil { daemon.log.contains("models not reloaded") }
        #expect(try await client.request(line: Self.add)["events"] == [["type": "added", "n": 10]])
        #expect(await daemon.stop() == 0)
    }

    @Test func withoutAModelsDirectoryAReloadIsRefused() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        let refused = try await client.request(line: Self.reload)
        #expect(refused["error"]?["code"] == "reload_refused")
        #expect(refused["error"]?["message"]?.stringValue?.contains("--models-dir") == true)
        #expect(await daemon.stop() == 0)
    }
}
