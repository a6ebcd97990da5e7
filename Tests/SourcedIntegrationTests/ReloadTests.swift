import Foundation
import Glibc
import SourcedTestSupport
import SourcedWire
import Testing

/// SIGHUP reads the configuration file again and applies what can change while the daemon runs.
@Suite struct ReloadTests {
    /// A daemon started with `--config` on `lines`, its log level left to the file, and its
    /// `NOTIFY_SOCKET` a listener, in a directory and on a socket other users can reach.
    struct Configured {
        let daemon: DaemonProcess
        let file: String
        let notifications: NotifyListener

        init(_ lines: [String]) async throws {
            let directory = TemporaryDirectory("sd")
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            file = directory.file("sourced.conf")
            try Self.write(lines, to: file)
            notifications = try NotifyListener(path: directory.file("notify"))
            daemon = try await DaemonProcess(
                in: directory, arguments: ["--config", file], environment: ["NOTIFY_SOCKET": notifications.path], logLevel: nil
            )
            try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: daemon.socketPath)
            let notifications = notifications
            try await waitUntil { notifications.hasReceived("READY=1") }
        }

        static func write(_ lines: [String], to file: String) throws {
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        }

        /// How many `READY=1` the daemon sent: one at start, one after each reload.
        var readyCount: Int {
            notifications.received.filter { $0.split(separator: "\n").contains("READY=1") }.count
        }

        /// Rewrites the file with `lines`, sends SIGHUP and waits until the reload is over.
        func reload(_ lines: [String]) async throws {
            try Self.write(lines, to: file)
            let before = readyCount
            Glibc.kill(daemon.pid, SIGHUP)
            try await waitUntil { readyCount > before }
        }

        func stop() async -> Int32 {
            defer { notifications.stop() }
            return await daemon.stop()
        }
    }

    func ping(as uid: Int, _ socket: String) async throws -> String {
        try await AccessTests().ping(as: uid, group: 65534, socket)
    }

    @Test func reloadsTheAccessListAndTheLogLevel() async throws {
        let configured = try await Configured(["# who may connect", "allow-uid = 4100", "log-level = warning"])
        let daemon = configured.daemon
        #expect(!daemon.log.contains("sourced: ready"), "level warning hides the info line: \(daemon.log)")
        #expect(try await ping(as: 65534, daemon.socketPath).contains(#""code":"forbidden""#))

        try await configured.reload(["allow-uid = 4100, 65534", "log-level = info"])
        #expect(daemon.log.contains("reloaded allow-uid: 4100 → 4100,65534"), "\(daemon.log)")
        #expect(daemon.log.contains("reloaded log-level: warning → info"), "a raised level logs its own change")
        #expect(try await ping(as: 65534, daemon.socketPath).contains(#""pong":true"#), "new connections use the new list")
        let reloading = try #require(configured.notifications.received.first { $0.hasPrefix("RELOADING=1\n") })
        #expect(reloading.contains("\nMONOTONIC_USEC="), "\(reloading)")
        let last = configured.notifications.received.last { $0.contains("READY=1") }
        #expect(last?.contains("configuration reloaded: 2 changed, 0 need a restart") == true, "\(last ?? "")")

        // At level info the reload's summary (a notice) shows; unchanged settings log nothing.
        try await configured.reload(["allow-uid = 4100, 65534", "log-level = info"])
        #expect(daemon.log.contains("configuration reloaded changed=0"), "\(daemon.log)")
        #expect(daemon.log.components(separatedBy: "reloaded allow-uid").count == 2, "one line per change, none when unchanged")
        #expect(await configured.stop() == 0)
    }

    @Test func anInvalidFileChangesNothingAndTheDaemonServesOn() async throws {
        let configured = try await Configured(["allow-uid = 4100"])
        let daemon = configured.daemon
        try await configured.reload(["allow-uid = 65534", "log-level = loud"])
        #expect(daemon.log.contains(#"configuration not reloaded; the running configuration stays error=invalid value "loud" in \#(configured.file) line 2 (log-level)"#), "\(daemon.log)")
        #expect(try await ping(as: 65534, daemon.socketPath).contains(#""code":"forbidden""#), "all or nothing: the valid line is not applied either")

        try await configured.reload(["allow-uid = 65534", "max-conections = 3"])
        #expect(daemon.log.contains(#"\#(configured.file) line 2: unknown key "max-conections""#), "\(daemon.log)")
        try FileManager.default.removeItem(atPath: configured.file)
        let before = configured.readyCount
        Glibc.kill(daemon.pid, SIGHUP)
        try await waitUntil { configured.readyCount > before }
        #expect(daemon.log.contains("cannot read the configuration file \(configured.file): No such file or directory"), "\(daemon.log)")

        #expect(try await ping(as: 65534, daemon.socketPath).contains(#""code":"forbidden""#))
        #expect(await LineClient.answersPing(at: daemon.socketPath))
        #expect(await configured.stop() == 0)
    }

    @Test func aChangeThatNeedsARestartIsReportedAndTheRestApplies() async throws {
        let configured = try await Configured(["sync = always", "idle-timeout = 300", "slow-request = 0"])
        let daemon = configured.daemon
        let client = try await LineClient.connect(daemon.socketPath)
        let created = try await client.request(line: #"{"op":"execute","model":"counter","id":"idle","command":{"type":"create"}}"#)
        #expect(created["ok"] == true)
        #expect(!daemon.log.contains("slow request"), "slow-request 0 logs none")

        try await configured.reload(["sync = none", "idle-timeout = 0.2", "slow-request = 0.000001"])
        #expect(daemon.log.contains("sync needs a restart to change: always → none not applied"), "\(daemon.log)")
        #expect(daemon.log.contains("reloaded idle-timeout: 300 → 0.2"))
        #expect(daemon.log.contains("reloaded slow-request: 0 → 1e-06"))
        #expect(try await client.request(line: #"{"op":"ping"}"#)["ok"] == true)
        try await waitUntil { daemon.log.contains("sourced: slow request") }
        #expect(try await client.request(line: #"{"op":"stats"}"#)["stats"]?["sync"] == "always")
        // Every shard evicts by the new timeout.
        try await waitUntil {
            let stats = try await client.request(line: #"{"op":"stats"}"#)["stats"]
            return stats?["live_aggregates"] == 0 && (stats?["evictions"]?.integerValue ?? 0) >= 1
        }
        await client.close()
        #expect(await configured.stop() == 0)
    }

    @Test func theConnectionLimitAppliesToNewConnections() async throws {
        let configured = try await Configured(["max-connections = 1"])
        let daemon = configured.daemon
        // The start-up check's connection may not be closed on the daemon's side yet.
        var held: LineClient?
        try await waitUntil {
            let client = try await LineClient.connect(daemon.socketPath)
            guard try await client.request(line: #"{"op":"ping"}"#)["ok"] == true else {
                await client.close()
                return false
            }
            held = client
            return true
        }
        let first = try #require(held)
        let second = try await LineClient.connect(daemon.socketPath)
        #expect(try await second.readReply().errorCode == "unavailable")
        await second.close()

        try await configured.reload(["max-connections = 2"])
        #expect(daemon.log.contains("reloaded max-connections: 1 → 2"))
        #expect(await LineClient.answersPing(at: daemon.socketPath))
        #expect(try await first.request(line: #"{"op":"ping"}"#)["ok"] == true, "the open connection is untouched")
        await first.close()
        #expect(await configured.stop() == 0)
    }

    @Test func withoutAConfigurationFileThereIsNothingToReload() async throws {
        let daemon = try await DaemonProcess()
        Glibc.kill(daemon.pid, SIGHUP)
        try await waitUntil { daemon.log.contains("SIGHUP: no configuration file (--config or SOURCED_CONFIG); nothing to reload") }
        #expect(await LineClient.answersPing(at: daemon.socketPath))
        #expect(await daemon.stop() == 0)
    }

    /// At start a bad file is a configuration error (exit 64, which the unit does not restart);
    /// a key a flag or variable also sets is reported as unused.
    @Test func atStartABadFileIsAConfigurationErrorAndOverriddenKeysAreReported() async throws {
        let directory = TemporaryDirectory("sd")
        let file = directory.file("sourced.conf")
        try Configured.write(["idle-timeout = 300", "threads = many"], to: file)
        let refused = try await DaemonProcess(in: directory, arguments: ["--config", file], waitUntilReady: false)
        #expect(await refused.exitStatus() == 64)
        #expect(refused.log.contains(#"invalid value "many" in \#(file) line 2 (threads)"#), "\(refused.log)")

        try Configured.write(["log-level = error", "idle-timeout = 60"], to: file)
        let daemon = try await DaemonProcess(in: directory, environment: ["SOURCED_CONFIG": file, "SOURCED_IDLE_TIMEOUT": "30"])
        #expect(daemon.log.contains("the configuration file's idle-timeout is not used: --idle-timeout or SOURCED_IDLE_TIMEOUT wins over it"))
        #expect(daemon.log.contains("the configuration file's log-level is not used"), "--log-level debug is given")
        #expect(daemon.log.contains("sourced: ready"))
        #expect(await daemon.stop() == 0)
    }
}
