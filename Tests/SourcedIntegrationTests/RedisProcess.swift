import Foundation
import Glibc
import SourcedTestSupport

/// A private `redis-server` without persistence, listening only on a Unix socket in a temporary
/// directory, for the tests of `sourcectl bench --protocol redis`. Stopped when released.
final class RedisProcess: Sendable {
    /// Where Debian's `redis-server` package installs the server.
    static let executable = "/usr/bin/redis-server"
    /// Whether the server is installed (`apt-get install redis-server`); tests that need it are
    /// skipped otherwise.
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    let directory: TemporaryDirectory
    let socketPath: String
    private let process: Process

    /// Starts the server and waits until its socket accepts connections.
    init() async throws {
        directory = TemporaryDirectory("rd")
        socketPath = directory.file("r.sock")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [
            "--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700", "--dir", directory.path,
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", directory.file("redis.log"),
        ]
        // Not the test's own outputs: a server outliving the test would hold them open.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let path = socketPath
        try await waitUntil { Self.accepts(path) }
    }

    /// Kills the server: SIGKILL, because a child spawned from the test process inherits a signal
    /// mask that blocks SIGTERM (it stayed pending there), and there is nothing to save.
    deinit {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
        }
    }

    /// Whether a connection to the Unix socket at `path` succeeds now.
    private static func accepts(_ path: String) -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}
