import Foundation
import SourcedTestSupport
import SourcedWire
import Testing

@Suite struct SystemdTests {
    @Test func notifiesReadyWatchdogAndStopping() async throws {
        let directory = TemporaryDirectory("sd")
        let listener = try NotifyListener(path: directory.file("notify"))
        defer { listener.stop() }
        let daemon = try await DaemonProcess(
            in: directory,
            environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "200000"],
            waitUntilReady: false
        )
        try await waitUntil { listener.hasReceived("READY=1") }
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"ping"}"#)["ok"] == true, "READY=1 means the socket already accepts")
        try await waitUntil { listener.hasReceived("WATCHDOG=1") }
        #expect(listener.received.first?.contains("READY=1") == true, "READY=1 comes before any watchdog ping")
        #expect(listener.received.contains { $0.hasPrefix("STATUS=") || $0.contains("\nSTATUS=") })
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(listener.hasReceived("STOPPING=1"))
    }

    @Test func logsWithSyslogPrioritiesUnderTheJournalAndTimestampsElsewhere() async throws {
        let journal = try await DaemonProcess(environment: ["JOURNAL_STREAM": "8:12345"])
        #expect(await journal.stop() == 0)
        let lines = journal.log.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>sourced: ready data=\(journal.dataDirectory) socket=\(journal.socketPath) sync=always version=0.5.0 (commit ") })
        #expect(lines.contains { $0.hasPrefix("<5>sourced: shutting down") })
        let plain = try await DaemonProcess()
        #expect(await plain.stop() == 0)
        let ready = try #require(plain.log.split(separator: "\n").first { $0.contains("sourced: ready") })
        #expect(ready.hasPrefix("20") && ready.contains(" info sourced: ready"), "\(ready)")
    }

    @Test func adoptsASocketPassedBySocketActivation() async throws {
        let activate = "/usr/bin/systemd-socket-activate"
        try #require(FileManager.default.isExecutableFile(atPath: activate), "systemd-socket-activate is part of Debian's systemd package")
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(
            in: directory,
            command: [activate, "-l", directory.file("s.sock"), DaemonProcess.executable("sourced")],
            waitUntilReady: false
        )
        try await waitUntil { FileManager.default.fileExists(atPath: daemon.socketPath) }
        let client = try await LineClient.connect(daemon.socketPath)
        let reply = try await client.request(line: #"{"op":"execute","model":"counter","id":"c1","command":{"type":"create"}}"#)
        #expect(reply["ok"] == true && reply["version"] == 1)
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(daemon.log.contains("socket=\(directory.file("s.sock")) (from systemd)"), "the ready line names the inherited socket: \(daemon.log)")
        #expect(daemon.log.contains("--socket (or SOURCED_SOCKET) is ignored: systemd passed the listening socket"), "an explicit --socket is not dropped silently")
    }

    /// The shipped units, reload included, pass `systemd-analyze verify` and rate at most 2.0 on
    /// `systemd-analyze security`.
    @Test func theUnitsVerifyAndAreHardened() throws {
        let units = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../systemd").standardized
        let directory = TemporaryDirectory("units")
        let service = try String(contentsOf: units.appendingPathComponent("sourced.service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/sourced", with: DaemonProcess.executable("sourced"))
        #expect(service.contains("\nExecReload=/bin/kill -HUP $MAINPID\n") && service.contains("\nRestartPreventExitStatus=64\n"))
        try service.write(toFile: directory.file("sourced.service"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: units.appendingPathComponent("sourced.socket").path, toPath: directory.file("sourced.socket"))

        let verify = try run("/usr/bin/systemd-analyze", ["verify", "sourced.service", "sourced.socket"], in: directory.path)
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
        let security = try run("/usr/bin/systemd-analyze", ["security", "--offline=true", "sourced.service"], in: directory.path)
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(score <= 2.0, "\(line)")
    }

    private func run(_ tool: String, _ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
