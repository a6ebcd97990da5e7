import Foundation
import Glibc
import SourcedCore
import SourcedTestSupport

/// A real `sourced` process on a private data directory and socket, for tests that exercise the
/// daemon as users do.
final class DaemonProcess: Sendable {
    let directory: TemporaryDirectory
    let socketPath: String
    let dataDirectory: String
    let logPath: String
    private let child: SpawnedProgram.Child

    /// How long a daemon may take to exit once it is told to (or fails to start): far beyond a
    /// clean shutdown under load, so that only a hung daemon reaches it.
    static let exitTimeout = Duration.seconds(180)

    /// The built products folder: the test bundle sits beside the executables.
    static var productsDirectory: URL {
        Bundle.main.bundleURL
    }

    static func executable(_ name: String) -> String {
        productsDirectory.appendingPathComponent(name).path
    }

    /// Starts `sourced` with `arguments` after its socket and data-directory flags (unless
    /// `defaultLocations`) and `--log-level logLevel` (unless `nil`), and waits until it answers
    /// on its socket.
    init(
        in directory: TemporaryDirectory = TemporaryDirectory("sd"),
        arguments: [String] = [],
        environment: [String: String] = [:],
        command: [String]? = nil,
        defaultLocations: Bool = false,
        logLevel: String? = "debug",
        waitUntilReady: Bool = true
    ) async throws {
        self.directory = directory
        socketPath = directory.file("s.sock")
        dataDirectory = directory.file("data")
        logPath = directory.file("sourced.log")
        // A new log for each daemon, even in a directory an earlier one used.
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let locations = defaultLocations ? [] : ["--socket", socketPath, "--data-dir", dataDirectory]
        let level = logLevel.map { ["--log-level", $0] } ?? []
        let full = (command ?? [Self.executable("sourced")]) + locations + level + arguments
        var inherited = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] {
            inherited[key] = nil
        }
        child = try SpawnedProgram.start(
            full[0], Array(full.dropFirst()), environment: inherited.merging(environment) { _, new in new }, logPath: logPath
        )
        if waitUntilReady {
            try await self.waitUntilReady()
        }
    }

    deinit {
        if isRunning {
            Glibc.kill(child.pid, SIGTERM)
        }
    }

    var pid: Int32 { child.pid }

    private var isRunning: Bool { !child.exit.hasExited }

    /// Waits until a connection to the socket is answered.
    func waitUntilReady() async throws {
        do {
            try await waitUntil(timeout: .seconds(30)) {
                guard isRunning else { return true }
                return await LineClient.answersPing(at: socketPath)
            }
        } catch {
            throw DaemonFailed(message: "sourced did not become ready: \(log)")
        }
        guard isRunning else {
            throw DaemonFailed(message: "sourced exited with status \(await exitStatus()): \(log)")
        }
    }

    /// Sends `signal` and returns the exit status.
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        Glibc.kill(child.pid, signal)
        return await exitStatus()
    }

    /// The exit status, once the process has exited (the signal number if a signal killed it).
    /// One that has not exited within ``exitTimeout`` is killed, failing the test with its log.
    func exitStatus() async -> Int32 {
        let status = await child.exit.wait(pid: pid, program: "sourced", timeout: Self.exitTimeout) { [logPath] in
            "Its log ends: " + String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(4000))
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : signal
    }

    /// The daemon's resident memory now (`VmRSS`), or its peak so far (`VmHWM`), in MiB.
    func residentMegabytes(peak: Bool = false) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let field = peak ? "VmHWM:" : "VmRSS:"
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kilobytes = line.split(separator: " ").compactMap({ Int($0) }).first
        else { throw DaemonFailed(message: "no \(field) in /proc/\(pid)/status") }
        return kilobytes / 1024
    }

    /// Everything the daemon wrote to stderr so far.
    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }
}

struct DaemonFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
