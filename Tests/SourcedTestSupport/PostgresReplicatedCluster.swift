import Foundation

/// A primary and two synchronous standbys of their own for a test, as a production cluster runs
/// them: the primary commits only once one standby has the commit on disk
/// (`synchronous_standby_names = 'ANY 1 (s1, s2)'`, `synchronous_commit = on`), and each standby
/// streams the primary's WAL (`pg_basebackup -R`, `application_name` `s1` or `s2`).
///
/// Every node listens only on a Unix socket in its own directory under one fresh directory in
/// `/tmp` (no TCP), on its own port. Clients authenticate with SCRAM as ``user``, whose password
/// is in ``passwordFile`` only; replication connections over the local socket are trusted. When
/// the tests run as root the servers run as `nobody`.
///
/// ``start()`` returns once both standbys stream and count as synchronous. ``killPrimary(_:)``
/// and ``promote(_:)`` (with ``mostAdvancedStandby(of:)`` and ``follow(_:newPrimary:)``) play a
/// failover; ``stop()`` stops what still runs and removes the directory. If a step fails, it
/// throws ``PostgresClusterError`` with the reason and the server's log: tests fail, they are never
/// skipped.
public final class PostgresReplicatedCluster: Sendable {
    /// The directory holding the nodes' directories and the password file.
    public let directory: String
    /// The servers' superuser.
    public let user = "sourced"
    /// A libpq password file (mode 0600) for ``user``: pass it as `passfile`.
    public let passwordFile: String
    /// The primary the cluster starts with.
    public let primary: PostgresNode
    /// The two synchronous standbys, `s1` and `s2`.
    public let standbys: [PostgresNode]
    private let programs: PostgresPrograms

    /// Every node: the primary, then the standbys.
    public var nodes: [PostgresNode] { [primary] + standbys }

    private init(directory: String, programs: PostgresPrograms) {
        self.directory = directory
        passwordFile = directory + "/client.pgpass"
        self.programs = programs
        primary = PostgresNode(name: "p", directory: directory + "/p", port: 5433)
        standbys = [PostgresNode(name: "s1", directory: directory + "/s1", port: 5434), PostgresNode(name: "s2", directory: directory + "/s2", port: 5435)]
    }

    /// Creates the primary, clones the standbys from it, starts them all and waits until both
    /// standbys stream synchronously.
    /// - Throws: ``PostgresClusterError`` saying which step failed and why.
    public static func start(timeout: Duration = .seconds(180)) async throws -> PostgresReplicatedCluster {
        let programs = try PostgresPrograms.find()
        let directory = try PostgresPrograms.makeDirectory(prefix: "sourced-pgr")
        let cluster = PostgresReplicatedCluster(directory: directory, programs: programs)
        do {
            try await cluster.create(timeout: timeout)
            return cluster
        } catch {
            await cluster.stop()
            throw error
        }
    }

    /// A connection string for `database` naming `nodes` in order, each with its socket and port,
    /// with the password file, `target_session_attrs` and `connect_timeout`: by default 30 s, which
    /// costs a failover nothing (a killed server refuses connections at once) and which a busy
    /// machine's slowest connection and session check stay well within (5 s did not, once).
    public func connectionString(database: String, nodes: [PostgresNode], targetSessionAttributes: String = "read-write", connectTimeout: Int = 30) -> String {
        "postgres://\(user)@/\(database)?host=\(nodes.map(\.directory).joined(separator: ","))&port=\(nodes.map { String($0.port) }.joined(separator: ","))"
            + "&target_session_attrs=\(targetSessionAttributes)&connect_timeout=\(connectTimeout)&passfile=\(passwordFile)"
    }

    /// Creates an empty database owned by ``user`` on `node` (a primary; standbys receive it).
    public func createDatabase(_ name: String, on node: PostgresNode) async throws {
        try await programs.run(
            "createdb", ["-h", node.directory, "-p", String(node.port), "-U", user, "--no-password", name], asServer: false,
            environment: ["PGPASSFILE": passwordFile], directory: directory, log: node.directory + "/createdb.log", serverLog: node.serverLog
        )
    }

    /// Runs `sql` on `node` with `psql` and returns its output: rows of `|`-separated values, one a line.
    public func query(_ sql: String, on node: PostgresNode) async throws -> [[String]] {
        let output = directory + "/psql-" + UUID().uuidString.prefix(8) + ".out"
        defer { unlink(output) }
        try await programs.run(
            "psql", ["-X", "-q", "-A", "-t", "-h", node.directory, "-p", String(node.port), "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
            asServer: false, environment: ["PGPASSFILE": passwordFile], directory: directory, log: output
        )
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Waits until `primary` streams to every one of `standbys` and counts each as synchronous
    /// (`sync_state` `quorum` or `sync` in `pg_stat_replication`).
    /// - Throws: ``PostgresClusterError`` with what `pg_stat_replication` showed last if that
    ///   does not happen within `timeout`.
    public func waitForSynchronousStandbys(_ standbys: [PostgresNode], of primary: PostgresNode, timeout: Duration = .seconds(120)) async throws {
        let deadline = ContinuousClock.now + timeout
        var seen: [[String]] = []
        while ContinuousClock.now < deadline {
            seen = try await query("SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name", on: primary)
            let synchronous = Set(seen.filter { $0.count == 3 && $0[1] == "streaming" && ["quorum", "sync"].contains($0[2]) }.map { $0[0] })
            if standbys.allSatisfy({ synchronous.contains($0.name) }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PostgresClusterError(
            step: "wait for synchronous standbys \(standbys.map(\.name)) of \(primary)",
            reason: "not streaming synchronously within \(timeout); pg_stat_replication: \(seen)"
        )
    }

    /// Kills `node`'s server as a machine loss would: the postmaster is stopped (so it starts no
    /// process), every process it started is killed with SIGKILL, then the postmaster; returns
    /// once none of them runs. The server's processes are found by the postmaster's PID in its
    /// own `postmaster.pid` and their parent PID, never by name. The stale `postmaster.pid` is
    /// removed, so nothing signals that PID again.
    /// - Returns: the PIDs killed, the postmaster first.
    @discardableResult
    public func killPrimary(_ node: PostgresNode, timeout: Duration = .seconds(60)) async throws -> [pid_t] {
        let postmaster = try postmasterPID(of: node)
        try signal(SIGSTOP, to: postmaster, of: node)
        let pidFile = node.dataDirectory + "/postmaster.pid"
        let children = Self.children(of: postmaster)
        for child in children { kill(child, SIGKILL) }
        kill(postmaster, SIGKILL)
        unlink(pidFile)
        let killed = [postmaster] + children
        let deadline = ContinuousClock.now + timeout
        while killed.contains(where: Self.isRunning) {
            guard ContinuousClock.now < deadline else {
                throw PostgresClusterError(step: "kill \(node)", reason: "processes \(killed.filter(Self.isRunning)) still run after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return killed
    }

    /// Stops `node`'s postmaster with SIGSTOP: connections to it are accepted by the kernel and
    /// then never answered, as with a server that hangs or a host that drops packets. Its running
    /// backends go on. ``resume(_:)`` continues it.
    public func suspend(_ node: PostgresNode) throws {
        try signal(SIGSTOP, to: try postmasterPID(of: node), of: node)
    }

    /// Continues a postmaster ``suspend(_:)`` stopped.
    public func resume(_ node: PostgresNode) throws {
        try signal(SIGCONT, to: try postmasterPID(of: node), of: node)
    }

    /// Of `candidates`, the standby that holds the most WAL: once each has replayed what it
    /// received (`pg_last_wal_replay_lsn()` has reached `pg_last_wal_receive_lsn()`), the one
    /// whose replay position is furthest; the first of equals.
    public func mostAdvancedStandby(of candidates: [PostgresNode], timeout: Duration = .seconds(60)) async throws -> PostgresNode {
        var best: (node: PostgresNode, lsn: UInt64)?
        for node in candidates {
            let deadline = ContinuousClock.now + timeout
            var replayed: UInt64 = 0
            while true {
                let row = try await query("SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()", on: node).first ?? []
                let received = row.first.flatMap(Self.lsn) ?? 0
                replayed = row.dropFirst().first.flatMap(Self.lsn) ?? 0
                if replayed >= received { break }
                guard ContinuousClock.now < deadline else {
                    throw PostgresClusterError(step: "wait for \(node) to replay", reason: "replayed \(row) within \(timeout)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            if best == nil || replayed > best!.lsn { best = (node, replayed) }
        }
        guard let best else { throw PostgresClusterError(step: "choose a standby", reason: "no candidates") }
        return best.node
    }

    /// Promotes `standby` to primary (`pg_ctl promote -w`): returns once it accepts writes.
    public func promote(_ standby: PostgresNode) async throws {
        try await programs.run(
            "pg_ctl", ["-D", standby.dataDirectory, "-w", "-t", "120", "promote"], asServer: true,
            directory: standby.directory, log: standby.directory + "/pg_ctl-promote.log", serverLog: standby.serverLog
        )
    }

    /// Points `standby` at `newPrimary` after a failover: its `primary_conninfo` is replaced and
    /// the configuration reloaded; it follows the new primary's timeline
    /// (`recovery_target_timeline = 'latest'`). Use ``waitForSynchronousStandbys(_:of:timeout:)``
    /// to wait until it streams.
    public func follow(_ standby: PostgresNode, newPrimary: PostgresNode) async throws {
        try append("primary_conninfo = '\(primaryConnectionInfo(newPrimary, applicationName: standby.name))'\n", to: standby.dataDirectory + "/postgresql.auto.conf")
        _ = try await query("SELECT pg_reload_conf()", on: standby)
    }

    /// Stops every server still running at once and removes the directory.
    public func stop() async {
        for node in nodes where FileManager.default.fileExists(atPath: node.dataDirectory + "/postmaster.pid") {
            try? await programs.run(
                "pg_ctl", ["-D", node.dataDirectory, "-m", "immediate", "-w", "stop"], asServer: true,
                directory: directory, log: node.directory + "/pg_ctl-stop.log"
            )
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func create(timeout: Duration) async throws {
        let password = UUID().uuidString
        let serverPasswordFile = directory + "/initdb.pw"
        try write(Array(password.utf8), to: serverPasswordFile)
        try write(Array("*:*:*:\(user):\(password)\n".utf8), to: passwordFile)
        guard chmod(passwordFile, 0o600) == 0 else { throw PostgresClusterError(step: "chmod", reason: String(cString: strerror(errno)!)) }
        for node in nodes {
            guard mkdir(node.directory, 0o700) == 0 else {
                throw PostgresClusterError(step: "mkdir \(node.directory)", reason: String(cString: strerror(errno)))
            }
        }
        try programs.handOver([directory, serverPasswordFile] + nodes.map(\.directory))
        try await programs.run(
            "initdb",
            ["-D", primary.dataDirectory, "-U", user, "--pwfile", serverPasswordFile, "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"],
            asServer: true, directory: directory, log: primary.directory + "/initdb.log"
        )
        // The standbys copy both files with the data, so a promoted one keeps the same settings.
        try append(
            """

            # Sourced test cluster: a primary with two synchronous standbys.
            wal_level = replica
            max_wal_senders = 10
            wal_keep_size = '256MB'
            hot_standby = on
            synchronous_standby_names = 'ANY 1 (s1, s2)'
            synchronous_commit = on
            wal_retrieve_retry_interval = '200ms'
            max_connections = 200

            """,
            to: primary.dataDirectory + "/postgresql.conf"
        )
        let hba = primary.dataDirectory + "/pg_hba.conf"
        let rules = (try? String(contentsOfFile: hba, encoding: .utf8)) ?? ""
        try write(Array(("local replication all trust\n" + rules).utf8), to: hba)
        try programs.handOver([hba])
        try await startServer(primary)
        for standby in standbys {
            try await programs.run(
                "pg_basebackup",
                ["-D", standby.dataDirectory, "-h", primary.directory, "-p", String(primary.port), "-U", user, "-X", "stream", "-R", "-c", "fast", "--no-sync", "-w"],
                asServer: true, directory: standby.directory, log: standby.directory + "/pg_basebackup.log", serverLog: primary.serverLog
            )
            try append("primary_conninfo = '\(primaryConnectionInfo(primary, applicationName: standby.name))'\n", to: standby.dataDirectory + "/postgresql.auto.conf")
            try await startServer(standby)
        }
        try await waitForSynchronousStandbys(standbys, of: primary, timeout: timeout)
    }

    /// The PID of `node`'s postmaster, from the first line of its own `postmaster.pid`.
    private func postmasterPID(of node: PostgresNode) throws -> pid_t {
        let pidFile = node.dataDirectory + "/postmaster.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let first = text.split(separator: "\n").first, let postmaster = pid_t(first), postmaster > 0
        else {
            throw PostgresClusterError(step: "find the server of \(node)", reason: "no running server: cannot read a PID from \(pidFile)")
        }
        return postmaster
    }

    private func signal(_ number: Int32, to pid: pid_t, of node: PostgresNode) throws {
        guard kill(pid, number) == 0 else {
            throw PostgresClusterError(step: "signal \(number) to \(node)", reason: "kill \(pid): \(String(cString: strerror(errno)))")
        }
    }

    /// `primary_conninfo` for a standby streaming from `primary` under `applicationName`.
    private func primaryConnectionInfo(_ primary: PostgresNode, applicationName: String) -> String {
        "host=\(primary.directory) port=\(primary.port) user=\(user) application_name=\(applicationName)"
    }

    private func startServer(_ node: PostgresNode) async throws {
        try await programs.run(
            "pg_ctl",
            [
                "-D", node.dataDirectory, "-l", node.serverLog, "-w", "-t", "120",
                "-o", "-c listen_addresses='' -c unix_socket_directories='\(node.directory)' -c port=\(node.port) -c cluster_name=\(node.name)", "start",
            ],
            asServer: true, directory: node.directory, log: node.directory + "/pg_ctl-start.log", serverLog: node.serverLog
        )
    }

    /// Appends `text` to the file at `path`, which keeps its owner.
    private func append(_ text: String, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw PostgresClusterError(step: "append to \(path)", reason: "cannot open it")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// The processes whose parent is `parent`, from `/proc/<pid>/stat`.
    private static func children(of parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
            // After "pid (comm)": state, then the parent's PID.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent
        }
    }

    /// Whether `pid` still runs: it exists and is not a zombie waiting to be reaped.
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// An LSN `X/Y` (hexadecimal halves) as a number.
    private static func lsn(_ text: String) -> UInt64? {
        let halves = text.split(separator: "/")
        guard halves.count == 2, let high = UInt64(halves[0], radix: 16), let low = UInt64(halves[1], radix: 16) else { return nil }
        return high << 32 | low
    }
}
