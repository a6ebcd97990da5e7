import Foundation
import Glibc
import SourcedTestSupport
import SourcedWire
import Synchronization
import Testing

@Suite struct LifecycleTests {
    /// SIGTERM while many clients write: the daemon exits 0 within its shutdown timeout, and every
    /// acknowledged command is in the log after a restart.
    @Test func sigtermDuringLoadLosesNoAcknowledgedCommand() async throws {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(in: directory)
        let writers = 8
        let acknowledged = Acknowledgements(writers: writers)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        guard let client = try? await LineClient.connect(daemon.socketPath) else { return }
                        _ = try? await client.request(line: #"{"op":"execute","model":"counter","id":"w\#(writer)","command":{"type":"create"}}"#)
                        while let reply = try? await client.request(line: #"{"op":"execute","model":"counter","id":"w\#(writer)","command":{"type":"increment"}}"#),
                              let version = reply["version"]?.integerValue
                        {
                            acknowledged.record(version, writer: writer)
                        }
                        await client.close()
                    }
                }
            }
        }
        try await waitUntil(timeout: .seconds(60)) { acknowledged.total >= 200 }
        let started = ContinuousClock.now
        #expect(await daemon.stop(SIGTERM) == 0)
        #expect(ContinuousClock.now - started < .seconds(10))
        await load.value
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath), "the socket file is removed")

        let restarted = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(restarted.socketPath)
        for writer in 0..<writers {
            let state = try await client.request(line: #"{"op":"get","model":"counter","id":"w\#(writer)"}"#)
            let version = try #require(state["version"]?.integerValue)
            #expect(version >= acknowledged.latest(writer), "writer \(writer)")
            #expect(state["state"]?["count"] == .integer(version - 1))
        }
        await client.close()
        #expect(await restarted.stop() == 0)
    }

    /// A line still arriving when SIGTERM stops the reading is `unavailable` (safe to send
    /// again), not a `bad_request` blaming the client.
    @Test func aHalfLineAtShutdownIsUnavailable() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        try await client.sendRaw(Array(#"{"op":"ping"}"#.utf8) + [0x0A] + Array(#"{"op":"pi"#.utf8))
        #expect(try await client.readReply()["pong"] == true)
        // The client's own unfinished line, ended by the client, is its mistake.
        let ending = try await LineClient.connect(daemon.socketPath)
        try await ending.sendRaw(Array(#"{"op":"pi"#.utf8))
        try await ending.finishSending()
        #expect(try await ending.readReply().errorCode == "bad_request")
        await ending.close()
        Glibc.kill(daemon.pid, SIGTERM)
        let last = try await client.readReply()
        #expect(last.errorCode == "unavailable", "\(last)")
        #expect(await daemon.exitStatus() == 0)
        await client.close()
    }

    @Test func aStaleSocketIsReplacedAndTheSocketIsGroupAccessibleOnly() async throws {
        let directory = TemporaryDirectory("sd")
        let first = try await DaemonProcess(in: directory)
        #expect(await first.stop(SIGKILL) == SIGKILL)
        #expect(FileManager.default.fileExists(atPath: first.socketPath), "SIGKILL leaves the socket file behind")
        let second = try await DaemonProcess(in: directory)
        var info = stat()
        #expect(stat(second.socketPath, &info) == 0 && info.st_mode & 0o777 == 0o660)
        #expect(await second.stop() == 0)
    }

    @Test func aLiveDaemonsSocketIsNeverStolen() async throws {
        let owner = try await DaemonProcess()
        let intruder = try await DaemonProcess(
            in: TemporaryDirectory("sd"),
            arguments: ["--socket", owner.socketPath],
            waitUntilReady: false
        )
        #expect(await intruder.exitStatus() == 1)
        #expect(intruder.log.contains("another sourced is answering on \(owner.socketPath)"))
        let client = try await LineClient.connect(owner.socketPath)
        #expect(try await client.request(line: #"{"op":"ping"}"#)["ok"] == true)
        await client.close()
        #expect(await owner.stop() == 0)
    }

    @Test func aSecondDaemonOnTheSameDataDirectoryFailsFast() async throws {
        let owner = try await DaemonProcess()
        let second = try await DaemonProcess(
            in: TemporaryDirectory("sd"),
            arguments: ["--data-dir", owner.dataDirectory],
            waitUntilReady: false
        )
        #expect(await second.exitStatus() == 1)
        #expect(second.log.contains("data directory \(owner.dataDirectory) is in use by another sourced (pid \(owner.pid))"))
        #expect(await owner.stop() == 0)
    }

    @Test func environmentVariablesConfigureTheDaemonAndFlagsWin() async throws {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(
            in: directory,
            arguments: ["--max-aggregates", "7"],
            environment: ["SOURCED_MAX_AGGREGATES": "3", "SOURCED_SYNC": "none"]
        )
        let client = try await LineClient.connect(daemon.socketPath)
        let stats = try await client.request(line: #"{"op":"stats"}"#)["stats"]
        #expect(stats?["capacity"] == 7 && stats?["sync"] == "none")
        await client.close()
        #expect(await daemon.stop() == 0)

        let invalid = try await DaemonProcess(in: directory, environment: ["SOURCED_SYNC": "sometimes"], waitUntilReady: false)
        #expect(await invalid.exitStatus() != 0)
        #expect(invalid.log.contains("SOURCED_SYNC"))
    }

    @Test func withNoFlagsTheDaemonUsesTheUsersStateDirectory() async throws {
        let home = TemporaryDirectory("h")
        let daemon = try await DaemonProcess(
            in: home,
            environment: ["HOME": home.path, "XDG_STATE_HOME": ""],
            defaultLocations: true,
            waitUntilReady: false
        )
        let socket = home.file(".local/state/sourced/sourced.sock")
        try await waitUntil { await LineClient.answersPing(at: socket) }
        #expect(FileManager.default.fileExists(atPath: home.file(".local/state/sourced/data/LOCK")))
        #expect(await daemon.stop() == 0)
    }
}

/// The highest acknowledged version per writer, and how many acknowledgements there were.
final class Acknowledgements: Sendable {
    private let state: Mutex<(versions: [Int64], total: Int)>

    init(writers: Int) {
        state = Mutex(([Int64](repeating: 0, count: writers), 0))
    }

    func record(_ version: Int64, writer: Int) {
        state.withLock { state in
            state.versions[writer] = max(state.versions[writer], version)
            state.total += 1
        }
    }

    func latest(_ writer: Int) -> Int64 {
        state.withLock { $0.versions[writer] }
    }

    var total: Int {
        state.withLock { $0.total }
    }
}
