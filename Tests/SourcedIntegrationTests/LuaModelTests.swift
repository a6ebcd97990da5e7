import Foundation
import SourcedJSON
import SourcedTestSupport
import Testing

/// `sourced --models-dir`: Lua models served beside the built-in ones, over the socket.
@Suite struct LuaModelTests {
    /// `models/` of this repository.
    static let shipped: String = {
        var path = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        path.removeLast(3)
        return path.joined(separator: "/") + "/models"
    }()

    @Test func shippedModelsAreServedBesideTheBuiltInOnes() async throws {
        let daemon = try await DaemonProcess(arguments: ["--models-dir", Self.shipped])
        let client = try await LineClient.connect(daemon.socketPath)
        let models = try await client.request(line: #"{"op":"models"}"#)
        #expect(models["models"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["counter", "account", "lua-account", "cart", "lua-counter"])
        let created = try await client.request(line: #"{"op":"execute","model":"lua-counter","id":"c1","commands":[{"type":"create"},{"type":"increment"}]}"#)
        #expect(created["events"] == [["type": "created"], ["type": "incremented", "count": 1]])
        let again = try await client.request(line: #"{"op":"execute","model":"lua-counter","id":"c1","command":{"type":"create"}}"#)
        #expect(again["error"]?["code"] == "rejected" && again["error"]?["message"] == "already created")
        let unknown = try await client.request(line: #"{"op":"execute","model":"lua-account","id":"a1","command":{"type":"steal"}}"#)
        #expect(unknown["error"]?["code"] == "unknown_command")
        let mistyped = try await client.request(line: #"{"op":"execute","model":"lua-account","id":"a1","command":{"type":"open","owner":7}}"#)
        #expect(mistyped["error"]?["code"] == "bad_request")
        #expect(await daemon.stop() == 0)
    }

    @Test func aLoopingModelIsAnsweredModelFailedWhileOthersAreServed() async throws {
        let directory = TemporaryDirectory("lua-models")
        try """
            return {
                name = "spin",
                commands = { { type = "go", summary = "Never returns." } },
                decide = function(state, command) while true do end end,
                evolve = function(state, event) return state end,
            }
            """.write(toFile: directory.file("spin.lua"), atomically: true, encoding: .utf8)
        let daemon = try await DaemonProcess(arguments: ["--models-dir", directory.path, "--threads", "1"])
        let spinner = try await LineClient.connect(daemon.socketPath)
        let other = try await LineClient.connect(daemon.socketPath)
        let started = ContinuousClock.now
        try await spinner.send(#"{"op":"execute","model":"spin","id":"s","command":{"type":"go"}}"#)
        let served = try await other.request(line: #"{"op":"execute","model":"counter","id":"c","command":{"type":"create"}}"#)
        #expect(served["ok"] == true)
        let failed = try await spinner.readReply()
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(failed["error"]?["code"] == "model_failed")
        #expect(failed["error"]?["message"]?.stringValue?.contains("instruction budget of 10000000 exhausted") == true)
        #expect(try await other.request(line: #"{"op":"get","model":"spin","id":"s"}"#)["version"] == 0)
        #expect(await daemon.stop() == 0)
    }

    @Test func aModelThatDoesNotLoadStopsTheStart() async throws {
        let directory = TemporaryDirectory("lua-models")
        try "return {".write(toFile: directory.file("broken.lua"), atomically: true, encoding: .utf8)
        let daemon = try await DaemonProcess(arguments: ["--models-dir", directory.path], waitUntilReady: false)
        #expect(await daemon.exitStatus() != 0)
        #expect(daemon.log.contains("cannot load the models of --models-dir: invalid Lua model \(directory.path)/broken.lua"))
    }
}
