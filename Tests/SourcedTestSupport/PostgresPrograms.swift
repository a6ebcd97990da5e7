import Foundation

/// Debian's PostgreSQL programs (`/usr/lib/postgresql/<version>/bin`), run to their end for a test
/// cluster: as the server's user when the tests run as root (PostgreSQL refuses to run as root),
/// their output appended to a log file, a failure thrown with that log and the server's.
struct PostgresPrograms: Sendable {
    /// The directory holding `initdb`, `pg_ctl`, `psql`, ...
    let binaries: String
    /// `nobody` when the tests run as root, else `nil` (the programs run as the test's user).
    let serverUser: String?

    /// The newest installed version's programs.
    /// - Throws: ``PostgresClusterError`` if no `initdb` is installed.
    static func find() throws -> PostgresPrograms {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let version = versions.last(where: { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/initdb") }) else {
            throw PostgresClusterError(step: "find initdb", reason: "no \(root)/<version>/bin/initdb: install Debian's postgresql package (scripts/install-deps)")
        }
        return PostgresPrograms(binaries: "\(root)/\(version)/bin", serverUser: geteuid() == 0 ? "nobody" : nil)
    }

    /// Creates a fresh directory `/tmp/<prefix>-<8 hex digits>` (mode 0700) and returns its path:
    /// short, so that the sockets inside fit the 107 bytes a socket path may have. Under
    /// `scripts/test` the run's id comes first (`/tmp/<prefix>-<run>-<8 hex digits>`), so that
    /// it can stop its own servers and no other run's.
    static func makeDirectory(prefix: String) throws -> String {
        let run = ProcessInfo.processInfo.environment["SOURCED_TEST_RUN"].map { "\($0)-" } ?? ""
        let directory = "/tmp/\(prefix)-\(run)" + UUID().uuidString.prefix(8).lowercased()
        guard mkdir(directory, 0o700) == 0 else {
            throw PostgresClusterError(step: "mkdir \(directory)", reason: String(cString: strerror(errno)))
        }
        return directory
    }

    /// Gives `paths` to the server's user, so that it may write there.
    func handOver(_ paths: [String]) throws {
        guard let serverUser else { return }
        guard let entry = getpwnam(serverUser) else { throw PostgresClusterError(step: "getpwnam", reason: "no user \(serverUser)") }
        for path in paths where chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) != 0 {
            throw PostgresClusterError(step: "chown \(path)", reason: String(cString: strerror(errno)!))
        }
    }

    /// Runs `program` in `directory`, as the server's user if `asServer`, its output appended to
    /// `log`.
    /// - Throws: ``PostgresClusterError`` with the program's output and `serverLog`'s if it does
    ///   not exit 0.
    func run(
        _ program: String, _ arguments: [String], asServer: Bool, environment: [String: String] = [:],
        directory: String, log: String, serverLog: String? = nil
    ) async throws {
        var path = binaries + "/" + program
        var arguments = arguments
        if asServer, let serverUser {
            arguments = ["-u", serverUser, "--", path] + arguments
            path = "/usr/sbin/runuser"
        }
        let status: Int32
        do {
            status = try await SpawnedProgram.run(
                path, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, directory: directory, logPath: log
            )
        } catch {
            throw PostgresClusterError(step: program, reason: "cannot run \(path): \(error)")
        }
        guard status == 0 else {
            var reason = "exited with status \(status): " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            if let serverLog, let text = try? String(contentsOfFile: serverLog, encoding: .utf8) {
                reason += "\nserver log (\(serverLog)):\n" + text
            }
            throw PostgresClusterError(step: "\(program) \(arguments.joined(separator: " "))", reason: reason)
        }
    }
}
