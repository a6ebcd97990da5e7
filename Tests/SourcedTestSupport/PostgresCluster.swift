import Foundation

/// A PostgreSQL cluster of its own for a test run: `initdb` into a fresh directory under `/tmp`,
/// started with `pg_ctl`, listening only on a Unix socket in that directory (no TCP), with
/// password authentication (SCRAM) for its superuser `sourced`, whose password is in a password
/// file and nowhere on a command line.
///
/// When the tests run as root, the server runs as `nobody` (PostgreSQL refuses to run as root).
/// ``stop()`` stops it and removes the directory. Uses Debian's `postgresql` package
/// (`/usr/lib/postgresql/<version>/bin`; `scripts/install-deps` installs it). If anything fails,
/// ``start()`` throws with the reason and the server's log: tests fail, they are never skipped.
public final class PostgresCluster: Sendable {
    /// The directory holding the data, the socket, the password file and the logs.
    public let directory: String
    /// The server's superuser.
    public let user = "sourced"
    /// A libpq password file (mode 0600) for ``user``: pass it as `passfile`.
    public let passwordFile: String
    private let programs: PostgresPrograms

    private init(directory: String, programs: PostgresPrograms) {
        self.directory = directory
        passwordFile = directory + "/client.pgpass"
        self.programs = programs
    }

    /// Creates and starts a cluster.
    /// - Throws: ``PostgresClusterError`` saying which step failed and why.
    public static func start() async throws -> PostgresCluster {
        let programs = try PostgresPrograms.find()
        let directory = try PostgresPrograms.makeDirectory(prefix: "sourced-pg")
        let cluster = PostgresCluster(directory: directory, programs: programs)
        do {
            try await cluster.create()
            return cluster
        } catch {
            await cluster.stop()
            throw error
        }
    }

    /// A connection string for `database` over the cluster's socket, with the password file and
    /// a connect timeout (30 s) that a busy machine's slowest connection stays well within.
    public func connectionString(database: String) -> String {
        "postgres://\(user)@/\(database)?host=\(directory)&connect_timeout=30&passfile=\(passwordFile)"
    }

    /// Creates an empty database owned by ``user``.
    public func createDatabase(_ name: String) async throws {
        try await run(
            "createdb", ["-h", directory, "-U", user, "--no-password", name], asServer: false,
            environment: ["PGPASSFILE": passwordFile], log: "createdb.log"
        )
    }

    /// Stops the server at once (its data is thrown away) and removes the directory.
    public func stop() async {
        if FileManager.default.fileExists(atPath: directory + "/data/postmaster.pid") {
            try? await run("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"], asServer: true, log: "pg_ctl-stop.log")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func create() async throws {
        let password = UUID().uuidString
        let serverPasswordFile = directory + "/initdb.pw"
        try write(Array(password.utf8), to: serverPasswordFile)
        try write(Array("*:*:*:\(user):\(password)\n".utf8), to: passwordFile)
        guard chmod(passwordFile, 0o600) == 0 else { throw PostgresClusterError(step: "chmod", reason: String(cString: strerror(errno)!)) }
        try programs.handOver([directory, serverPasswordFile])
        try await run(
            "initdb",
            ["-D", directory + "/data", "-U", user, "--pwfile", serverPasswordFile, "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"],
            asServer: true, log: "initdb.log"
        )
        try await run(
            "pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "120",
                "-o", "-c listen_addresses='' -c unix_socket_directories='\(directory)' -c max_connections=200", "start",
            ],
            asServer: true, log: "pg_ctl-start.log"
        )
    }

    /// Runs one of the PostgreSQL programs, as the server's user if `asServer`, its output to `log`
    /// in the directory.
    private func run(_ program: String, _ arguments: [String], asServer: Bool, environment: [String: String] = [:], log: String) async throws {
        try await programs.run(
            program, arguments, asServer: asServer, environment: environment, directory: directory,
            log: directory + "/" + log, serverLog: directory + "/server.log"
        )
    }
}
